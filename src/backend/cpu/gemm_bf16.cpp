#include "backend/cpu/gemm_bf16.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "backend/cpu/gemv.h"
#include "backend/cpu/simd_convert.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// Blocking (Goto/BLIS scheme). The micro-kernel keeps a kMR x kNR tile of C in 24 zmm
// registers; vdpbf16ps consumes K in pairs, so B is packed into panels of 32-bit (k, k+1)
// pairs, 16 columns per register, while A's pairs are broadcast from a row-major copy of its
// block (the two elements of a pair are adjacent there). K blocks are long because every K
// block reads and writes the whole C tile again: the kMR-row slice of A (12 KiB) stays in L1
// while the kKC x kNR panels of B stream from L2, which holds the kKC x kNC block (1 MiB).
// (Measured on Zen 5: kKC 1024 runs about 15 % faster than 256.)
constexpr int kMR = 6;
constexpr int kNR = 64;
constexpr int64_t kKC = 1024;
constexpr int64_t kMC = 24;
constexpr int64_t kNC = 512;
// Below this many multiply-adds, one thread does the whole product.
constexpr int64_t kMinParallelWork = 1 << 18;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A stored bf16 matrix and whether the product uses its transpose.
struct Matrix {
  const uint16_t* data;
  int64_t ld;
  bool trans;
};

// Scratch for packed panels, one per thread, kept between calls.
class PackBuffer {
 public:
  ~PackBuffer() { std::free(data_); }
  uint32_t* get(size_t words) {
    if (words > capacity_) {
      std::free(data_);
      size_t bytes = (words * sizeof(uint32_t) + 63) / 64 * 64;
      data_ = static_cast<uint32_t*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) {
        capacity_ = 0;
        throw std::bad_alloc();
      }
      capacity_ = words;
    }
    return data_;
  }

 private:
  uint32_t* data_ = nullptr;
  size_t capacity_ = 0;
};

thread_local PackBuffer t_pack_a;
thread_local PackBuffer t_pack_b;

// Leading dimension of the copied A block. Rows of a large matrix lie a multiple of 4 KiB
// apart and would all compete for the same L1 sets; the odd number of cache lines between
// copied rows spreads them out.
constexpr int64_t kALd = kKC + 32;

// Copies rows [m0, m0 + mc) x cols [k0, k0 + kc) of op(A) row-major into dst (leading
// dimension kALd), the layout the micro-kernel reads.
void copy_a(const Matrix& a, int64_t m0, int64_t mc, int64_t k0, int64_t kc, uint16_t* dst) {
  if (!a.trans) {
    for (int64_t r = 0; r < mc; ++r) std::memcpy(dst + r * kALd, a.data + (m0 + r) * a.ld + k0, kc * sizeof(uint16_t));
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const uint16_t* src = a.data + (k0 + k) * a.ld + m0;
    for (int64_t r = 0; r < mc; ++r) dst[r * kALd + k] = src[r];
  }
}

// In-register transpose of a 16x16 matrix of 32-bit words (rows r[0..15]).
TESSERA_TARGET_AVX512 void transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // u[4i + c] holds, in 128-bit lane L, column 4L + c of rows 4i..4i+3.
  for (int c = 0; c < 4; ++c) {
    __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
    __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
    __m512i w0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    __m512i w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_i32x4(v0, w0, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(v0, w0, 0xdd);
    r[4 + c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(v1, w1, 0xdd);
  }
}

// Packs rows [k0, k0 + kc) x cols [n0, n0 + nc) of op(B) into kNR-column panels, each laid out
// [kc/2 pairs][kNR cols] of (k, k+1) pairs; missing columns and the odd last k are zero.
TESSERA_TARGET_AVX512 void pack_b(const Matrix& b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, uint32_t* dst) {
  int64_t pairs = ceil_div(kc, 2);
  for (int64_t j = 0; j < nc; j += kNR) {
    uint32_t* panel = dst + (j / kNR) * pairs * kNR;
    int64_t cols = std::min<int64_t>(kNR, nc - j);
    for (int c0 = 0; c0 < kNR; c0 += 16) {
      int valid_cols = static_cast<int>(std::clamp<int64_t>(cols - c0, 0, 16));
      if (b.trans) {
        // B is stored [N, K]: each column's pairs are contiguous; transpose 16 x 16 blocks.
        for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
          int64_t elems = std::min<int64_t>(32, kc - 2 * p0);
          __mmask32 mask = elems >= 32 ? ~__mmask32{0} : (__mmask32{1} << elems) - 1;
          __m512i r[16];
          for (int i = 0; i < 16; ++i) {
            r[i] = i < valid_cols ? _mm512_maskz_loadu_epi16(mask, b.data + (n0 + j + c0 + i) * b.ld + k0 + 2 * p0)
                                  : _mm512_setzero_si512();
          }
          transpose16x16(r);
          int64_t count = std::min<int64_t>(16, pairs - p0);
          for (int64_t t = 0; t < count; ++t) _mm512_store_si512(panel + (p0 + t) * kNR + c0, r[t]);
        }
      } else {
        // B is stored [K, N]: interleave rows k and k+1.
        __mmask16 mask = static_cast<__mmask16>((1u << valid_cols) - 1);
        for (int64_t p = 0; p < pairs; ++p) {
          const uint16_t* lo = b.data + (k0 + 2 * p) * b.ld + n0 + j + c0;
          __m512i words = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, lo));
          if (2 * p + 1 < kc) {
            __m512i hi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, lo + b.ld));
            words = _mm512_or_si512(words, _mm512_slli_epi32(hi, 16));
          }
          _mm512_store_si512(panel + p * kNR + c0, words);
        }
      }
    }
  }
}

// C[R x ncols] = alpha * (A rows @ B panel) + beta * C, for R <= kMR rows of A (row-major,
// leading dimension lda, kc elements each) and ncols <= kNR.
template <int R>
TESSERA_TARGET_AVX512_BF16 void micro_kernel(int64_t kc, const uint16_t* a, int64_t lda, const uint32_t* b, float* c,
                                             int64_t ldc, int ncols, float alpha, float beta) {
  constexpr int V = kNR / 16;
  // C is only touched at the end: start fetching it now, behind the arithmetic.
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + v * 16), _MM_HINT_T0);
  }
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  const int64_t pairs = kc / 2;
  for (int64_t p = 0; p < pairs; ++p) {
    __m512i bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_load_si512(b + v * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      uint32_t word;
      std::memcpy(&word, a + r * lda + 2 * p, sizeof(word));
      __m512i av = _mm512_set1_epi32(static_cast<int>(word));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)av, (__m512bh)bv[v]);
    }
    b += kNR;
  }
  if (kc % 2 != 0) {
    // The last k has no partner: pair it with zero (B's packed pair is zero there too).
    __m512i bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_load_si512(b + v * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512i av = _mm512_set1_epi32(a[r * lda + kc - 1]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)av, (__m512bh)bv[v]);
    }
  }
  const __m512 valpha = _mm512_set1_ps(alpha);
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      int left = ncols - v * 16;
      if (left <= 0) break;
      __mmask16 mask = left >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << left) - 1);
      __m512 out = _mm512_mul_ps(valpha, acc[r][v]);
      if (beta != 0.0f) out = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(mask, row + v * 16), out);
      _mm512_mask_storeu_ps(row + v * 16, mask, out);
    }
  }
}

using MicroKernel = void (*)(int64_t, const uint16_t*, int64_t, const uint32_t*, float*, int64_t, int, float, float);
constexpr MicroKernel kMicroKernels[kMR + 1] = {nullptr,         micro_kernel<1>, micro_kernel<2>, micro_kernel<3>,
                                                micro_kernel<4>, micro_kernel<5>, micro_kernel<6>};

struct Gemm {
  Matrix a, b;
  int64_t M, N, K;
  float alpha, beta;
  float* c;
  int64_t ldc;

  // Computes the C tile rows [m_begin, m_end) x cols [n_begin, n_end) on the calling thread.
  void tile(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end) const {
    int64_t max_pairs = ceil_div(std::min(kKC, K), 2);
    uint32_t* packed_b = t_pack_b.get(static_cast<size_t>(max_pairs * ceil_div(kNC, kNR) * kNR));
    auto* copied_a = reinterpret_cast<uint16_t*>(t_pack_a.get(static_cast<size_t>(kMC * kALd / 2)));
    for (int64_t jc = n_begin; jc < n_end; jc += kNC) {
      int64_t nc = std::min(kNC, n_end - jc);
      for (int64_t pc = 0; pc < K; pc += kKC) {
        int64_t kc = std::min(kKC, K - pc);
        int64_t pairs = ceil_div(kc, 2);
        float block_beta = pc == 0 ? beta : 1.0f;
        pack_b(b, pc, kc, jc, nc, packed_b);
        for (int64_t ic = m_begin; ic < m_end; ic += kMC) {
          int64_t mc = std::min(kMC, m_end - ic);
          copy_a(a, ic, mc, pc, kc, copied_a);
          for (int64_t jr = 0; jr < nc; jr += kNR) {
            const uint32_t* b_panel = packed_b + (jr / kNR) * pairs * kNR;
            int ncols = static_cast<int>(std::min<int64_t>(kNR, nc - jr));
            for (int64_t ir = 0; ir < mc; ir += kMR) {
              int rows = static_cast<int>(std::min<int64_t>(kMR, mc - ir));
              kMicroKernels[rows](kc, copied_a + ir * kALd, kALd, b_panel, c + (ic + ir) * ldc + jc + jr, ldc,
                                  ncols, alpha, block_beta);
            }
          }
        }
      }
    }
  }

  // Splits C into one tile per thread: along N while there are panels to share, then along M.
  void run() const {
    int threads = M * N * K < kMinParallelWork ? 1 : num_threads();
    int64_t n_tiles = std::min<int64_t>(threads, ceil_div(N, kNR));
    int64_t m_tiles = std::min<int64_t>(threads / n_tiles, ceil_div(M, kMR));
    int64_t tile_n = ceil_div(ceil_div(N, n_tiles), kNR) * kNR;
    int64_t tile_m = ceil_div(ceil_div(M, m_tiles), kMR) * kMR;
    n_tiles = ceil_div(N, tile_n);
    m_tiles = ceil_div(M, tile_m);
    parallel_for(m_tiles * n_tiles, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        int64_t mi = t / n_tiles, ni = t % n_tiles;
        tile(mi * tile_m, std::min(M, (mi + 1) * tile_m), ni * tile_n, std::min(N, (ni + 1) * tile_n));
      }
    });
  }
};

// C = beta * C, for K == 0 (the sum over an empty K is zero).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m) {
    float* row = C + m * ldc;
    for (int64_t n = 0; n < N; ++n) row[n] = beta == 0.0f ? 0.0f : beta * row[n];
  }
}

// Without AVX512_BF16: widen both operands to float32 and let OpenBLAS multiply.
void gemm_bf16_via_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
                         int64_t ldc) {
  auto widen = [](const uint16_t* src, int64_t rows, int64_t cols, int64_t ld) {
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) bf16_to_f32(src + r * ld, out.data() + r * cols, cols);
    return out;
  };
  std::vector<float> a = trans_a ? widen(A, K, M, lda) : widen(A, M, K, lda);
  std::vector<float> b = trans_b ? widen(B, N, K, ldb) : widen(B, K, N, ldb);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, a.data(),
              static_cast<int>(trans_a ? M : K), b.data(), static_cast<int>(trans_b ? K : N), beta, C,
              static_cast<int>(ldc));
}

}  // namespace

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
               int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scale_c(M, N, beta, C, ldc);
  if (!cpu_has_avx512_bf16()) {
    return gemm_bf16_via_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  // A few rows against a Linear weight (decoding, a speculative verification pass): stream the
  // weight once instead of packing it, each row getting exactly its product alone.
  if (M <= kMaxExactVectors && trans_b && !trans_a) {
    return gemv_bf16_batched(M, N, K, A, lda, B, ldb, alpha, beta, C, ldc);
  }
  Gemm{{A, lda, trans_a}, {B, ldb, trans_b}, M, N, K, alpha, beta, C, ldc}.run();
}

}  // namespace tessera::cpu
