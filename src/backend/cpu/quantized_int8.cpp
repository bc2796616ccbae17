#include "backend/cpu/quantized_int8.h"

// GCC 12's AVX-512 intrinsics (reductions, shuffles, conversions) start from
// _mm512_undefined_*(), which its -W(maybe-)uninitialized reports once they are inlined into
// target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#include "backend/cpu/thread_pool.h"

#define TESSERA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace tessera::cpu::qint8 {

namespace {

// Elements of x that share one int8 scale dx.
constexpr int64_t kBlock = 32;
// Groups whose scales and biases one vector holds: the unit of the loop over a weight row.
constexpr int64_t kGroupsPerStep = 16;

// A chunk is the weights one 64-byte load unpacks: 128 elements at 4 bits, 64 at 8. The int32
// lane l of its dot products sums the E / 16 consecutive elements starting at l * E / 16 (at
// 4 bits: the even ones from the low nibbles, the odd ones from the high nibbles).
constexpr int64_t chunk_elems(int bits) { return bits == 4 ? 128 : 64; }

// Each element of x is t * dx with t = coarse + fine / kFineSteps: two int8 terms on the same
// dx, so the dot product of a chunk is (coarse · q) * kFineSteps + fine · q in int32 (at most
// 4 * 255 * (127 * 256 + 127) per lane: no overflow).
constexpr int kFineShift = 8;
constexpr float kFineSteps = 1 << kFineShift;

// x in the two int8 terms, in the unpack order: per chunk E coarse bytes, then E fine bytes;
// with dx / kFineSteps for each int32 lane of each chunk and the exact float sums of every
// weight group. Row m of each array starts at m times its row stride.
struct QuantizedX {
  int64_t chunks;
  int64_t groups;
  int64_t group_stride;  // groups rounded up to a whole step: masked loads stay in the row
  // One cache-line aligned allocation: chunks of x loaded across two lines would halve the
  // load throughput that bounds the kernel.
  std::unique_ptr<void, decltype(&std::free)> storage{nullptr, &std::free};
  int8_t* q;       // [M, 2 * K]
  float* lane_dx;  // [M, chunks * 16]
  float* sums;     // [M, group_stride]
};

// The coarse (round(t), |t| <= 127) and fine (round((t - coarse) * kFineSteps), saturated to
// [-128, 127]) terms of 16 elements x = t * dx: |t - coarse - fine / kFineSteps| <= 1 / kFineSteps.
TESSERA_VNNI void split(__m512 t, int8_t* coarse, int8_t* fine) {
  const __m512 rounded = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(coarse), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rounded)));
  const __m512 rest = _mm512_mul_ps(_mm512_sub_ps(t, rounded), _mm512_set1_ps(kFineSteps));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(fine), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rest)));
}

// Row x [K] into its two int8 terms q [2 * K], lane_dx [K / E * 16] and group sums.
TESSERA_VNNI void quantize_row(const float* x, int64_t K, int bits, int group_size, int8_t* q, float* lane_dx,
                               float* sums) {
  const int64_t E = chunk_elems(bits);
  // At 4 bits the even elements of a block go to the low-nibble half of the chunk, the odd ones
  // to the high-nibble half.
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  constexpr int64_t lanes_per_block_4 = kBlock / 8, lanes_per_block_8 = kBlock / 4;
  for (int64_t b = 0; b < K / kBlock; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * kBlock);
    const __m512 v1 = _mm512_loadu_ps(x + b * kBlock + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    const __m512 dx = _mm512_set1_ps(amax / 127.0f / kFineSteps);
    const __m512 t0 = _mm512_mul_ps(v0, inv), t1 = _mm512_mul_ps(v1, inv);
    const int64_t c = b * kBlock / E, in_chunk = b * kBlock % E;
    int8_t* coarse = q + c * 2 * E;
    int8_t* fine = coarse + E;
    if (bits == 4) {
      const int64_t at = in_chunk / 2;
      split(_mm512_permutex2var_ps(t0, even, t1), coarse + at, fine + at);
      split(_mm512_permutex2var_ps(t0, odd, t1), coarse + 64 + at, fine + 64 + at);
      _mm_storeu_ps(lane_dx + c * 16 + in_chunk / 8, _mm512_castps512_ps128(dx));
      static_assert(lanes_per_block_4 == 4);
    } else {
      split(t0, coarse + in_chunk, fine + in_chunk);
      split(t1, coarse + in_chunk + 16, fine + in_chunk + 16);
      _mm256_storeu_ps(lane_dx + c * 16 + in_chunk / 4, _mm512_castps512_ps256(dx));
      static_assert(lanes_per_block_8 == 8);
    }
    sums[b * kBlock / group_size] += _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
  }
}

// Params [g, g + 16) as float32, the lanes of k only.
TESSERA_VNNI __m512 load_params(const void* params, ScaleType t, int64_t g, __mmask16 k) {
  if (t == ScaleType::float32) return _mm512_maskz_loadu_ps(k, static_cast<const float*>(params) + g);
  const __m256i h = _mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(params) + g);
  return t == ScaleType::float16 ? _mm512_cvtph_ps(h)
                                 : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

constexpr __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1u);
}

// The packed weights, scales and biases and x rows that one tile reads.
struct Operands {
  const QuantizedMatrix* w;
  const uint8_t* bytes;
  int64_t row_bytes;
  int64_t groups;
  int gs_shift;
  const int8_t* xq[16];
  const float* xdx[16];
  const float* xsums[16];
};

// y for NR weight rows from n times MR rows of x: each chunk of a weight row is unpacked once and
// dotted with all MR rows; each chunk of x is loaded once for all NR weight rows.
template <int BITS, int NR, int MR>
TESSERA_VNNI void tile(const Operands& o, const QuantizedX& qx, int64_t n, float* const* y) {
  constexpr int64_t E = chunk_elems(BITS);
  const QuantizedMatrix& w = *o.w;
  const int64_t G = o.groups;
  const uint8_t* rows[NR];
  for (int r = 0; r < NR; ++r) rows[r] = o.bytes + (n + r) * o.row_bytes;
  __m512 acc[NR][MR];
  for (int r = 0; r < NR; ++r)
    for (int m = 0; m < MR; ++m) acc[r][m] = _mm512_setzero_ps();
  // Element position of each int32 lane within the step; shifted by the group size it is the
  // lane's group within the step.
  const __m512i lane_pos = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm512_set1_epi32(E / 16));
  const __m128i shift = _mm_cvtsi32_si128(o.gs_shift);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  for (int64_t g0 = 0; g0 < G; g0 += kGroupsPerStep) {
    const __mmask16 k = first_lanes(G - g0);
    __m512 S[NR];
    for (int r = 0; r < NR; ++r) {
      S[r] = load_params(w.scales, w.scale_type, (n + r) * G + g0, k);
      const __m512 B = load_params(w.biases, w.scale_type, (n + r) * G + g0, k);
      for (int m = 0; m < MR; ++m) acc[r][m] = _mm512_fmadd_ps(B, _mm512_loadu_ps(o.xsums[m] + g0), acc[r][m]);
    }
    const int64_t c0 = (g0 << o.gs_shift) / E;
    const int64_t c1 = std::min(qx.chunks, ((g0 + kGroupsPerStep) << o.gs_shift) / E);
    __m512i pos = lane_pos;
    for (int64_t c = c0; c < c1; ++c, pos = _mm512_add_epi32(pos, _mm512_set1_epi32(E))) {
      const __m512i group = _mm512_srl_epi32(pos, shift);
      __m512i lo[NR], hi[NR];
      __m512 s[NR];
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) {
        s[r] = _mm512_permutexvar_ps(group, S[r]);
        const __m512i v = _mm512_loadu_si512(rows[r] + c * 64);
        if constexpr (BITS == 4) {
          lo[r] = _mm512_and_si512(v, nibble);
          hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
        } else {
          lo[r] = v;
        }
      }
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m) {
        const int8_t* coarse = o.xq[m] + c * 2 * E;
        const int8_t* fine = coarse + E;
        const __m512 dx = _mm512_loadu_ps(o.xdx[m] + c * 16);
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
          __m512i d;
          if constexpr (BITS == 4) {
            d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], _mm512_loadu_si512(coarse));
            d = _mm512_dpbusd_epi32(d, hi[r], _mm512_loadu_si512(coarse + 64));
            d = _mm512_slli_epi32(d, kFineShift);
            d = _mm512_dpbusd_epi32(d, lo[r], _mm512_loadu_si512(fine));
            d = _mm512_dpbusd_epi32(d, hi[r], _mm512_loadu_si512(fine + 64));
          } else {
            d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], _mm512_loadu_si512(coarse));
            d = _mm512_slli_epi32(d, kFineShift);
            d = _mm512_dpbusd_epi32(d, lo[r], _mm512_loadu_si512(fine));
          }
          acc[r][m] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(d), dx), s[r], acc[r][m]);
        }
      }
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int r = 0; r < NR; ++r) y[m][n + r] = _mm512_reduce_add_ps(acc[r][m]);
}

// Rows of x per pass over a weight row block, and weight rows per tile.
constexpr int kMaxPassRows = 8;

template <int BITS, int NR, int MR>
void run_tiles(const Operands& o, const QuantizedX& qx, int64_t n0, int64_t n1, float* const* y) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) tile<BITS, NR, MR>(o, qx, n, y);
  for (; n < n1; ++n) tile<BITS, 1, MR>(o, qx, n, y);
}

template <int BITS, int... MR>
void pass_for(int rows, const Operands& o, const QuantizedX& qx, int64_t n0, int64_t n1, float* const* y,
              std::integer_sequence<int, MR...>) {
  ((rows == MR + 1 ? run_tiles<BITS, (MR == 0 ? 4 : 2), MR + 1>(o, qx, n0, n1, y) : void()), ...);
}

// Weight rows per work item when x has more rows than one pass takes: their packed bytes stay
// in L1 while every pass of x goes over them.
constexpr int64_t kRowBlock = 16;

template <int BITS>
void gemv_bits(const QuantizedX& qx, int64_t M, const QuantizedMatrix& w, float* y) {
  const int64_t N = w.rows;
  const int64_t K = w.cols;
  const int64_t grain = M <= kMaxPassRows ? 4 : kRowBlock;
  parallel_for(N, grain, [&](int64_t n0, int64_t n1) {
    for (int64_t nb = n0; nb < n1; nb += kRowBlock) {
      const int64_t nb1 = M <= kMaxPassRows ? n1 : std::min(n1, nb + kRowBlock);
      for (int64_t m0 = 0; m0 < M; m0 += kMaxPassRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxPassRows, M - m0));
        Operands o{&w, reinterpret_cast<const uint8_t*>(w.packed), K * BITS / 8, qx.groups,
                   __builtin_ctz(static_cast<unsigned>(w.group_size)), {}, {}, {}};
        float* yr[kMaxPassRows];
        for (int m = 0; m < rows; ++m) {
          o.xq[m] = qx.q + (m0 + m) * 2 * K;
          o.xdx[m] = qx.lane_dx + (m0 + m) * qx.chunks * 16;
          o.xsums[m] = qx.sums + (m0 + m) * qx.group_stride;
          yr[m] = y + (m0 + m) * N;
        }
        pass_for<BITS>(rows, o, qx, nb, nb1, yr, std::make_integer_sequence<int, kMaxPassRows>());
      }
      if (M <= kMaxPassRows) break;
    }
  });
}

QuantizedX quantize_x(const float* x, int64_t M, int64_t K, int bits, int group_size) {
  const int64_t E = chunk_elems(bits);
  QuantizedX qx;
  qx.chunks = K / E;
  qx.groups = K / group_size;
  qx.group_stride = (qx.groups + kGroupsPerStep - 1) / kGroupsPerStep * kGroupsPerStep;
  const size_t q_bytes = M * 2 * K;  // a multiple of 64 bytes, as are the float arrays
  const size_t dx_bytes = M * qx.chunks * 16 * sizeof(float);
  const size_t sums_bytes = M * qx.group_stride * sizeof(float);
  qx.storage.reset(std::aligned_alloc(64, q_bytes + dx_bytes + sums_bytes));
  if (!qx.storage) throw std::bad_alloc();
  auto* base = static_cast<std::byte*>(qx.storage.get());
  qx.q = reinterpret_cast<int8_t*>(base);
  qx.lane_dx = reinterpret_cast<float*>(base + q_bytes);
  qx.sums = reinterpret_cast<float*>(base + q_bytes + dx_bytes);
  std::fill_n(qx.sums, M * qx.group_stride, 0.0f);
  for (int64_t m = 0; m < M; ++m)
    quantize_row(x + m * K, K, bits, group_size, qx.q + m * 2 * K, qx.lane_dx + m * qx.chunks * 16,
                 qx.sums + m * qx.group_stride);
  return qx;
}

}  // namespace

bool supports(const QuantizedMatrix& w) {
  static const bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  const bool power_of_two = (w.group_size & (w.group_size - 1)) == 0;
  return cpu && (w.bits == 4 || w.bits == 8) && power_of_two && w.group_size >= kBlock &&
         w.cols % chunk_elems(w.bits) == 0;
}

int64_t max_rows(const QuantizedMatrix&) { return 7; }

void gemv(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
  const QuantizedX qx = quantize_x(x, M, w.cols, w.bits, w.group_size);
  if (w.bits == 4) return gemv_bits<4>(qx, M, w, y);
  gemv_bits<8>(qx, M, w, y);
}

}  // namespace tessera::cpu::qint8
