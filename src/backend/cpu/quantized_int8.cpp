#include "backend/cpu/quantized_int8.h"

// GCC 12's AVX-512 reduction intrinsics start from _mm512_undefined_*(), which its
// -Wmaybe-uninitialized reports once they are inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/thread_pool.h"

#define TESSERA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace tessera::cpu::qint8 {

namespace {

// Elements of x that share one int8 scale dx.
constexpr int64_t kBlock = 32;
// Rows of x multiplied into each unpacked weight block.
constexpr int kMaxRows = 8;
// Rows of W per work item.
constexpr int64_t kRowBlock = 16;

// A chunk is the weights one 64-byte load unpacks: 128 elements at 4 bits, 64 at 8. The int32
// lane l of its dot products sums the E / 16 consecutive elements starting at l * E / 16 (at
// 4 bits: the even ones from the low nibbles, the odd ones from the high nibbles).
constexpr int64_t chunk_elems(int bits) { return bits == 4 ? 128 : 64; }

// Position of element e of a chunk in the unpack order: at 4 bits the low nibbles (even
// elements) fill the first 64 bytes, the high nibbles (odd elements) the next 64.
constexpr int64_t unpack_position(int64_t e, int bits) { return bits == 4 ? (e & 1) * 64 + e / 2 : e; }

// Each element of x is t * dx with t = coarse + fine / kFineSteps: two int8 terms on the same
// dx, so the dot product of a chunk is (coarse · q) * kFineSteps + fine · q in int32 (at most
// 4 * 255 * (127 * 256 + 127) per lane: no overflow).
constexpr int kFineShift = 8;
constexpr float kFineSteps = 1 << kFineShift;

// x in the two int8 terms, in the unpack order: per chunk E coarse bytes, then E fine bytes;
// with dx / kFineSteps for each int32 lane of each chunk and the exact float sums of every
// weight group.
struct QuantizedX {
  int64_t K;
  int64_t chunks;
  int64_t groups;
  std::vector<int8_t> q;       // [M, 2 * K]
  std::vector<float> lane_dx;  // [M, chunks * 16]
  std::vector<float> sums;     // [M, groups]
};

// The coarse (round(t), |t| <= 127) and fine (round((t - coarse) * kFineSteps), saturated to
// [-128, 127]) terms of 16 elements x = t * dx: |t - coarse - fine / kFineSteps| <= 1 / kFineSteps.
TESSERA_VNNI void split(__m512 t, int8_t* coarse, int8_t* fine) {
  const __m512 rounded = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(coarse), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rounded)));
  const __m512 rest = _mm512_mul_ps(_mm512_sub_ps(t, rounded), _mm512_set1_ps(kFineSteps));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(fine), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rest)));
}

TESSERA_VNNI QuantizedX quantize_x(const float* x, int64_t M, int64_t K, int bits, int group_size) {
  const int64_t E = chunk_elems(bits);
  QuantizedX qx{K, K / E, K / group_size, {}, {}, {}};
  qx.q.resize(M * 2 * K);
  qx.lane_dx.resize(M * qx.chunks * 16);
  qx.sums.assign(M * qx.groups, 0.0f);
  const int64_t blocks = K / kBlock;
  std::vector<float> dx(blocks);
  alignas(64) int8_t coarse[128], fine[128];
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    int8_t* qr = qx.q.data() + m * 2 * K;
    for (int64_t b = 0; b < blocks; ++b) {
      const __m512 v0 = _mm512_loadu_ps(xr + b * kBlock);
      const __m512 v1 = _mm512_loadu_ps(xr + b * kBlock + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      dx[b] = amax / 127.0f / kFineSteps;
      const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      const int64_t in_chunk = (b * kBlock) % E;
      split(_mm512_mul_ps(v0, inv), coarse + in_chunk, fine + in_chunk);
      split(_mm512_mul_ps(v1, inv), coarse + in_chunk + 16, fine + in_chunk + 16);
      qx.sums[m * qx.groups + b * kBlock / group_size] += _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
      if (in_chunk + kBlock == E) {
        int8_t* dst = qr + (b * kBlock / E) * 2 * E;
        for (int64_t e = 0; e < E; ++e) {
          dst[unpack_position(e, bits)] = coarse[e];
          dst[E + unpack_position(e, bits)] = fine[e];
        }
      }
    }
    for (int64_t c = 0; c < qx.chunks; ++c)
      for (int64_t l = 0; l < 16; ++l)
        qx.lane_dx[(m * qx.chunks + c) * 16 + l] = dx[(c * E + l * E / 16) / kBlock];
  }
  return qx;
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

// Widens params [g0, g0 + G) to float32; out has room for G rounded up to 16.
TESSERA_VNNI void widen(const void* params, ScaleType t, int64_t g0, int64_t G, float* out) {
  for (int64_t i = 0; i < G; i += 16) _mm512_storeu_ps(out + i, load_params(params, t, g0 + i, first_lanes(G - i)));
}

// acc plus params [g0, g0 + G) · sums [G], summed over lanes.
TESSERA_VNNI float sum_with_dot(__m512 acc, const void* params, ScaleType t, int64_t g0, const float* sums, int64_t G) {
  for (int64_t i = 0; i < G; i += 16) {
    const __mmask16 k = first_lanes(G - i);
    acc = _mm512_fmadd_ps(load_params(params, t, g0 + i, k), _mm512_maskz_loadu_ps(k, sums + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Float accumulators per row of x: enough independent FMA chains to hide their latency when
// few rows of x share a chunk.
constexpr int accumulators(int rows) { return rows == 1 ? 4 : rows == 2 ? 2 : 1; }

// Chunk c of a weight row dotted with MR rows of x, added to acc[m][p]: the int32 lanes scaled
// by dx (per lane of x) times the weight scale of their group.
template <int BITS, int MR, bool WIDE_GROUPS>
TESSERA_VNNI __attribute__((always_inline)) inline void accumulate_chunk(
    const uint8_t* row, int64_t c, const float* scales, int gs_shift, __m512i group_index, const int8_t* const* xq,
    const float* const* xdx, __m512 (*acc)[accumulators(MR)], int p) {
  constexpr int64_t E = chunk_elems(BITS);
  // Scalar or 16-byte reads of the scales just widened (wider unaligned reads straddling those
  // stores would stall on store forwarding).
  const int64_t group = (c * E) >> gs_shift;
  __m512 s;
  if constexpr (WIDE_GROUPS) {
    s = _mm512_set1_ps(scales[group]);
  } else {
    s = _mm512_permutexvar_ps(group_index, _mm512_broadcast_f32x4(_mm_loadu_ps(scales + group)));
  }
  const __m512i v = _mm512_loadu_si512(row + c * 64);
  const __m512i nibble = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
    const int8_t* coarse = xq[m] + c * 2 * E;
    const int8_t* fine = coarse + E;
    __m512i d;
    if constexpr (BITS == 4) {
      const __m512i lo = _mm512_and_si512(v, nibble);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
      d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(coarse));
      d = _mm512_dpbusd_epi32(d, hi, _mm512_loadu_si512(coarse + 64));
      d = _mm512_slli_epi32(d, kFineShift);
      d = _mm512_dpbusd_epi32(d, lo, _mm512_loadu_si512(fine));
      d = _mm512_dpbusd_epi32(d, hi, _mm512_loadu_si512(fine + 64));
    } else {
      d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v, _mm512_loadu_si512(coarse));
      d = _mm512_slli_epi32(d, kFineShift);
      d = _mm512_dpbusd_epi32(d, v, _mm512_loadu_si512(fine));
    }
    const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(xdx[m] + c * 16));
    acc[m][p] = _mm512_fmadd_ps(scaled, s, acc[m][p]);
  }
}

// Weight rows [n0, n1) against MR rows of x starting at row m0: each chunk of a weight row is
// unpacked once and dotted with all MR rows. WIDE_GROUPS: a chunk lies in one group.
template <int BITS, int MR, bool WIDE_GROUPS>
TESSERA_VNNI void rows_pass(const QuantizedX& qx, int64_t m0, const QuantizedMatrix& w, int64_t n0, int64_t n1,
                            float* y) {
  constexpr int64_t E = chunk_elems(BITS);
  constexpr int P = accumulators(MR);
  const int64_t K = qx.K;
  const int64_t G = qx.groups;
  const int64_t N = w.rows;
  const int64_t row_bytes = K * BITS / 8;
  const int gs = w.group_size;
  const int gs_shift = __builtin_ctz(static_cast<unsigned>(gs));
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed);
  // Lane l of chunk c lies in group (c * E + l * E / 16) / gs: relative to the chunk's first group.
  alignas(64) int32_t lane_group[16];
  for (int l = 0; l < 16; ++l) lane_group[l] = static_cast<int32_t>((l * E / 16) / gs);
  const __m512i group_index = _mm512_load_si512(lane_group);
  std::vector<float> scales(G + 16);
  const int8_t* xq[MR];
  const float* xdx[MR];
  for (int m = 0; m < MR; ++m) {
    xq[m] = qx.q.data() + (m0 + m) * 2 * K;
    xdx[m] = qx.lane_dx.data() + (m0 + m) * qx.chunks * 16;
  }
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = bytes + n * row_bytes;
    widen(w.scales, w.scale_type, n * G, G, scales.data());
    __m512 acc[MR][P];
    for (int m = 0; m < MR; ++m)
      for (int p = 0; p < P; ++p) acc[m][p] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + P <= qx.chunks; c += P) {
#pragma GCC unroll 4
      for (int p = 0; p < P; ++p) accumulate_chunk<BITS, MR, WIDE_GROUPS>(row, c + p, scales.data(), gs_shift, group_index, xq, xdx, acc, p);
    }
    for (; c < qx.chunks; ++c) accumulate_chunk<BITS, MR, WIDE_GROUPS>(row, c, scales.data(), gs_shift, group_index, xq, xdx, acc, 0);
    for (int m = 0; m < MR; ++m) {
      __m512 total = acc[m][0];
      for (int p = 1; p < P; ++p) total = _mm512_add_ps(total, acc[m][p]);
      y[(m0 + m) * N + n] = sum_with_dot(total, w.biases, w.scale_type, n * G, qx.sums.data() + (m0 + m) * G, G);
    }
  }
}

template <int BITS, int... MR>
void rows_pass_for(int rows, const QuantizedX& qx, int64_t m0, const QuantizedMatrix& w, int64_t n0, int64_t n1,
                   float* y, std::integer_sequence<int, MR...>) {
  const bool wide = w.group_size >= chunk_elems(BITS);
  ((rows == MR + 1 ? (wide ? rows_pass<BITS, MR + 1, true>(qx, m0, w, n0, n1, y)
                           : rows_pass<BITS, MR + 1, false>(qx, m0, w, n0, n1, y))
                   : void()),
   ...);
}

template <int BITS>
void gemv_bits(const QuantizedX& qx, int64_t M, const QuantizedMatrix& w, float* y) {
  parallel_for(w.rows, kRowBlock, [&](int64_t n0, int64_t n1) {
    for (int64_t nb = n0; nb < n1; nb += kRowBlock) {
      const int64_t nb1 = std::min(n1, nb + kRowBlock);
      for (int64_t m0 = 0; m0 < M; m0 += kMaxRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxRows, M - m0));
        rows_pass_for<BITS>(rows, qx, m0, w, nb, nb1, y, std::make_integer_sequence<int, kMaxRows>());
      }
    }
  });
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
