#include "backend/cpu/gemv.h"

#include <algorithm>

#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"
#include "tessera/half.h"

namespace tessera::cpu {

namespace {

// Rows computed together: their dot products share each load of x.
constexpr int kRows = 4;
// Vectors computed together by gemv_bf16_batched: they share each load of W.
constexpr int kMaxVectors = 4;

// Fewest rows per thread: enough bytes of W that waking a thread pays off.
int64_t row_grain(int64_t K, int64_t itemsize) {
  constexpr int64_t kMinChunkBytes = 128 * 1024;
  int64_t rows = std::max<int64_t>(1, kMinChunkBytes / std::max<int64_t>(1, K * itemsize));
  return (rows + kRows - 1) / kRows * kRows;
}

// Pointers to rows [n, n + kRows) of W; rows past the end repeat the last row (their results
// are computed and dropped, which keeps the kernels free of row tails).
template <class T>
void row_pointers(const T* W, int64_t ldw, int64_t n, int64_t end, const T* rows[kRows]) {
  for (int r = 0; r < kRows; ++r) rows[r] = W + std::min(n + r, end - 1) * ldw;
}

__mmask32 tail_mask32(int64_t count) { return count >= 32 ? ~__mmask32{0} : (__mmask32{1} << count) - 1; }
__mmask16 tail_mask16(int64_t count) { return count >= 16 ? ~__mmask16{0} : static_cast<__mmask16>((1u << count) - 1); }

// ---- bf16 W, bf16 x: vdpbf16ps multiplies pairs of K-adjacent elements, exactly as stored.

template <int MX>
TESSERA_TARGET_AVX512_BF16 void dot_rows_bf16_avx512(int64_t K, const uint16_t* const w[kRows],
                                                      const uint16_t* const x[], float out[][kRows]) {
  __m512 acc[MX][kRows];
  for (int m = 0; m < MX; ++m) {
    for (int r = 0; r < kRows; ++r) acc[m][r] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    __m512i wv[kRows];
    for (int r = 0; r < kRows; ++r) wv[r] = _mm512_loadu_si512(w[r] + k);
    for (int m = 0; m < MX; ++m) {
      __m512i xv = _mm512_loadu_si512(x[m] + k);
      for (int r = 0; r < kRows; ++r) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], (__m512bh)wv[r], (__m512bh)xv);
    }
  }
  if (k < K) {
    __mmask32 mask = tail_mask32(K - k);
    __m512i wv[kRows];
    for (int r = 0; r < kRows; ++r) wv[r] = _mm512_maskz_loadu_epi16(mask, w[r] + k);
    for (int m = 0; m < MX; ++m) {
      __m512i xv = _mm512_maskz_loadu_epi16(mask, x[m] + k);
      for (int r = 0; r < kRows; ++r) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], (__m512bh)wv[r], (__m512bh)xv);
    }
  }
  for (int m = 0; m < MX; ++m) {
    for (int r = 0; r < kRows; ++r) out[m][r] = _mm512_reduce_add_ps(acc[m][r]);
  }
}

void dot_rows_bf16_portable(int64_t K, int mx, const uint16_t* const w[kRows], const uint16_t* const x[],
                            float out[][kRows]) {
  for (int m = 0; m < mx; ++m) {
    for (int r = 0; r < kRows; ++r) {
      float s = 0.0f;
      for (int64_t k = 0; k < K; ++k) s += detail::bf16_bits_to_float(w[r][k]) * detail::bf16_bits_to_float(x[m][k]);
      out[m][r] = s;
    }
  }
}

// How far ahead of its reads a one-row dot product prefetches.
constexpr int64_t kRowPrefetchBytes = 4096;

// out[m] = w · x[m] for one bf16 row against MX bf16 vectors. The row is read alone as one
// sequential stream, 4 KiB prefetched ahead (into the next rows when they follow): kRows rows
// read side by side are streams a page or more apart, which lose ~8 % of the bandwidth at
// 80 GB/s (512 MB matrix of 2048-element rows: 60.4 GB/s four rows at a time, 65.7 GB/s one at
// a time with the prefetch, against a 78 GB/s probe; the same at 43 GB/s).
// Four independent sums per vector: with two, a 512 MB matrix at a ~75 GB/s probe read 1-4 %
// slower. Each vector's sums take the same operations in the same order whatever MX, so a
// vector of a few (a speculative verification pass) gets exactly the product it gets alone.
template <int MX>
TESSERA_TARGET_AVX512_BF16 void row_bf16(int64_t K, const uint16_t* w, const uint16_t* const* x, float* out) {
  __m512 acc[MX][4];
  for (auto& sums : acc)
    for (auto& a : sums) a = _mm512_setzero_ps();
  const char* ahead = reinterpret_cast<const char*>(w) + kRowPrefetchBytes;
  int64_t k = 0;
  for (; k + 128 <= K; k += 128) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      _mm_prefetch(ahead + 2 * k + 64 * i, _MM_HINT_T0);
      const auto wv = (__m512bh)_mm512_loadu_si512(w + k + 32 * i);
#pragma GCC unroll 8
      for (int m = 0; m < MX; ++m)
        acc[m][i] = _mm512_dpbf16_ps(acc[m][i], wv, (__m512bh)_mm512_loadu_si512(x[m] + k + 32 * i));
    }
  }
  __m512 acc0[MX], acc1[MX];
  for (int m = 0; m < MX; ++m) {
    acc0[m] = _mm512_add_ps(acc[m][0], acc[m][2]);
    acc1[m] = _mm512_add_ps(acc[m][1], acc[m][3]);
  }
  for (; k < K; k += 32) {
    const __mmask32 mask = tail_mask32(K - k);
    const auto wv = (__m512bh)_mm512_maskz_loadu_epi16(mask, w + k);
    for (int m = 0; m < MX; ++m)
      acc0[m] = _mm512_dpbf16_ps(acc0[m], wv, (__m512bh)_mm512_maskz_loadu_epi16(mask, x[m] + k));
  }
  for (int m = 0; m < MX; ++m) out[m] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[m], acc1[m]));
}

// Vectors row_bf16 takes at once: their 4 sums each stay in registers.
constexpr int kRowVectors = 6;

// out[m] = w · x[m] for m < M, kRowVectors at a time (the row stays in L1 between them).
void row_bf16_all(int64_t K, int64_t M, const uint16_t* w, const uint16_t* const* x, float* out) {
  for (int64_t m0 = 0; m0 < M; m0 += kRowVectors) {
    switch (std::min<int64_t>(kRowVectors, M - m0)) {
      case 1: row_bf16<1>(K, w, x + m0, out + m0); break;
      case 2: row_bf16<2>(K, w, x + m0, out + m0); break;
      case 3: row_bf16<3>(K, w, x + m0, out + m0); break;
      case 4: row_bf16<4>(K, w, x + m0, out + m0); break;
      case 5: row_bf16<5>(K, w, x + m0, out + m0); break;
      default: row_bf16<6>(K, w, x + m0, out + m0); break;
    }
  }
}

void dot_rows_bf16(int64_t K, int mx, const uint16_t* const w[kRows], const uint16_t* const x[],
                   float out[][kRows]) {
  if (!cpu_has_avx512_bf16()) return dot_rows_bf16_portable(K, mx, w, x, out);
  switch (mx) {
    case 1: return dot_rows_bf16_avx512<1>(K, w, x, out);
    case 2: return dot_rows_bf16_avx512<2>(K, w, x, out);
    case 3: return dot_rows_bf16_avx512<3>(K, w, x, out);
    default: return dot_rows_bf16_avx512<4>(K, w, x, out);
  }
}

// ---- bf16, f16 or f32 W, f32 x: widen W to f32 (a shift for bf16, vcvtph2ps for f16) and use FMA.

TESSERA_TARGET_AVX512 __m512 load_as_f32(const uint16_t* p) {
  __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

TESSERA_TARGET_AVX512 __m512 maskz_load_as_f32(__mmask16 mask, const uint16_t* p) {
  __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

TESSERA_TARGET_AVX512 __m512 load_as_f32(const float16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

TESSERA_TARGET_AVX512 __m512 maskz_load_as_f32(__mmask16 mask, const float16_t* p) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
}

TESSERA_TARGET_AVX512 __m512 load_as_f32(const float* p) { return _mm512_loadu_ps(p); }

TESSERA_TARGET_AVX512 __m512 maskz_load_as_f32(__mmask16 mask, const float* p) {
  return _mm512_maskz_loadu_ps(mask, p);
}

inline float weight_to_float(uint16_t w) { return detail::bf16_bits_to_float(w); }
inline float weight_to_float(float16_t w) { return static_cast<float>(w); }
inline float weight_to_float(float w) { return w; }

// One W row (bf16 bits, f16 or f32) against MX f32 vectors: W widened to f32, FMA in two
// accumulator chains per vector, the row loaded once per step for all vectors and read as one
// stream with kRowPrefetchBytes prefetched ahead (see row_bf16). Each vector's chains take the
// same operations in the same order whatever MX.
template <typename W, int MX>
TESSERA_TARGET_AVX512 void row_f32x(int64_t K, const W* w, const float* const* x, float* out) {
  __m512 acc0[MX], acc1[MX];
  for (int m = 0; m < MX; ++m) acc0[m] = acc1[m] = _mm512_setzero_ps();
  const char* ahead = reinterpret_cast<const char*>(w) + kRowPrefetchBytes;
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    for (size_t line = 0; line < 32 * sizeof(W); line += 64) _mm_prefetch(ahead + k * sizeof(W) + line, _MM_HINT_T0);
    const __m512 w0 = load_as_f32(w + k), w1 = load_as_f32(w + k + 16);
#pragma GCC unroll 8
    for (int m = 0; m < MX; ++m) {
      acc0[m] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[m] + k), acc0[m]);
      acc1[m] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[m] + k + 16), acc1[m]);
    }
  }
  for (; k < K; k += 16) {
    const __mmask16 mask = tail_mask16(K - k);
    const __m512 wv = maskz_load_as_f32(mask, w + k);
    for (int m = 0; m < MX; ++m) acc0[m] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, x[m] + k), acc0[m]);
  }
  for (int m = 0; m < MX; ++m) out[m] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[m], acc1[m]));
}

template <typename W>
float dot_row_f32x(int64_t K, const W* w, const float* x) {
  float s = 0.0f;
  if (cpu_has_avx512()) {
    row_f32x<W, 1>(K, w, &x, &s);
    return s;
  }
  for (int64_t k = 0; k < K; ++k) s += weight_to_float(w[k]) * x[k];
  return s;
}

// row_f32x for M vectors, eight at a time (the row stays in L1 between them).
template <typename W>
void row_f32x_all(int64_t K, int64_t M, const W* w, const float* const* x, float* out) {
  if (!cpu_has_avx512()) {
    for (int64_t m = 0; m < M; ++m) out[m] = dot_row_f32x(K, w, x[m]);
    return;
  }
  for (int64_t m0 = 0; m0 < M; m0 += 8) {
    switch (std::min<int64_t>(8, M - m0)) {
      case 1: row_f32x<W, 1>(K, w, x + m0, out + m0); break;
      case 2: row_f32x<W, 2>(K, w, x + m0, out + m0); break;
      case 3: row_f32x<W, 3>(K, w, x + m0, out + m0); break;
      case 4: row_f32x<W, 4>(K, w, x + m0, out + m0); break;
      case 5: row_f32x<W, 5>(K, w, x + m0, out + m0); break;
      case 6: row_f32x<W, 6>(K, w, x + m0, out + m0); break;
      case 7: row_f32x<W, 7>(K, w, x + m0, out + m0); break;
      default: row_f32x<W, 8>(K, w, x + m0, out + m0); break;
    }
  }
}

// For every row n of W and vector m of X [M, K]: store(m, n, w_n · x_m), the products of a row
// coming from row_all(K, count, w_n, vectors, out) for up to kMaxExactVectors vectors at a time.
// Rows go one at a time on the pool (each a single stream, in L1 for the later passes), and
// row_all gives every vector the same operations whatever the count, so each row of the result
// is exactly the product of its vector alone.
template <class T, class XT, class RowAll, class Store>
void rows_times_vectors(int64_t M, int64_t N, int64_t K, const XT* X, int64_t ldx, const T* W, int64_t ldw,
                        const RowAll& row_all, const Store& store) {
  if (M <= 0 || N <= 0) return;
  parallel_for(N, row_grain(K, sizeof(T)), [&](int64_t begin, int64_t end) {
    const XT* xs[kMaxExactVectors];
    float out[kMaxExactVectors];
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t m0 = 0; m0 < M; m0 += kMaxExactVectors) {
        const int64_t count = std::min(kMaxExactVectors, M - m0);
        for (int64_t m = 0; m < count; ++m) xs[m] = X + (m0 + m) * ldx;
        row_all(K, count, W + n * ldw, xs, out);
        for (int64_t m = 0; m < count; ++m) store(m0 + m, n, out[m]);
      }
    }
  });
}

template <typename W>
void gemv_f32x(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const W* Wm, int64_t ldw, float* Y,
               int64_t ldy) {
  rows_times_vectors(M, N, K, X, ldx, Wm, ldw, row_f32x_all<W>,
                     [&](int64_t m, int64_t n, float v) { Y[m * ldy + n] = v; });
}

}  // namespace

void gemv_bf16(int64_t N, int64_t K, const uint16_t* W, int64_t ldw, const uint16_t* x, float* y) {
  gemv_bf16_batched(1, N, K, x, K, W, ldw, 1.0f, 0.0f, y, N);
}

void gemv_bf16(int64_t N, int64_t K, const uint16_t* W, int64_t ldw, const float* x, float* y) {
  gemv_f32x(1, N, K, x, K, W, ldw, y, N);
}

void gemv_f32(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y) {
  gemv_f32x(1, N, K, x, K, W, ldw, y, N);
}

void gemv_f32_batched(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* W, int64_t ldw,
                      float* Y, int64_t ldy) {
  gemv_f32x(M, N, K, X, ldx, W, ldw, Y, ldy);
}

void gemv_f16_batched(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float16_t* W,
                      int64_t ldw, float* Y, int64_t ldy) {
  gemv_f32x(M, N, K, X, ldx, W, ldw, Y, ldy);
}

void gemv_bf16_batched(int64_t M, int64_t N, int64_t K, const uint16_t* X, int64_t ldx, const uint16_t* W,
                       int64_t ldw, float alpha, float beta, float* Y, int64_t ldy) {
  if (M <= 0 || N <= 0) return;
  if (M <= kMaxExactVectors && cpu_has_avx512_bf16()) {
    return rows_times_vectors(M, N, K, X, ldx, W, ldw, row_bf16_all, [&](int64_t m, int64_t n, float v) {
      float& y = Y[m * ldy + n];
      y = alpha * v + (beta == 0.0f ? 0.0f : beta * y);
    });
  }
  int64_t grain = std::max<int64_t>(kRows, row_grain(K, 2) / std::min<int64_t>(M, kMaxVectors) / kRows * kRows);
  parallel_for(N, grain, [&](int64_t begin, int64_t end) {
    for (int64_t m0 = 0; m0 < M; m0 += kMaxVectors) {
      int mx = static_cast<int>(std::min<int64_t>(kMaxVectors, M - m0));
      const uint16_t* xs[kMaxVectors];
      for (int m = 0; m < mx; ++m) xs[m] = X + (m0 + m) * ldx;
      for (int64_t n = begin; n < end; n += kRows) {
        const uint16_t* rows[kRows];
        row_pointers(W, ldw, n, end, rows);
        float out[kMaxVectors][kRows];
        dot_rows_bf16(K, mx, rows, xs, out);
        int valid = static_cast<int>(std::min<int64_t>(kRows, end - n));
        for (int m = 0; m < mx; ++m) {
          float* y = Y + (m0 + m) * ldy + n;
          for (int r = 0; r < valid; ++r) y[r] = alpha * out[m][r] + (beta == 0.0f ? 0.0f : beta * y[r]);
        }
      }
    }
  });
}

}  // namespace tessera::cpu
