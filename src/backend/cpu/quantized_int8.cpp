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

// avx512bf16 is enabled for the tiles shared by both forms of x; only the bf16 form's intrinsics
// emit its instructions, and that form runs only where the CPU has them.
#define TESSERA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))

namespace tessera::cpu::qint8 {

namespace {

// Elements of x that share one int8 scale dx.
constexpr int64_t kBlock = 32;
// Groups whose scales and biases one vector holds: the unit of the loop over a weight row.
constexpr int64_t kGroupsPerStep = 16;

// A chunk is the weights one vector of unpacked bytes holds: 128 elements at 4 bits (one 64-byte
// load), 64 at the other widths (8 * bits bytes). The int32 lane l of its dot products sums the
// E / 16 consecutive elements starting at l * E / 16 (at 4 bits: the even ones from the low
// nibbles, the odd ones from the high nibbles).
constexpr int64_t chunk_elems(int bits) { return bits == 4 ? 128 : 64; }
constexpr int64_t chunk_bytes(int bits) { return chunk_elems(bits) * bits / 8; }

// Each element of x is t * dx with t = coarse + fine / kFineSteps: two int8 terms on the same
// dx, so the dot product of a chunk is (coarse · q) * kFineSteps + fine · q in int32 (at most
// 4 * 255 * (127 * 256 + 127) per lane: no overflow).
constexpr int kFineShift = 8;
constexpr float kFineSteps = 1 << kFineShift;

// How x enters the dot products.
//   int8: two int8 terms, in the unpack order: per chunk E coarse bytes, then E fine bytes; with
//         dx / kFineSteps for each int32 lane of each chunk.
//   bf16: x holds bfloat16 values, multiplied exactly by the weights unpacked into bfloat16
//         (vdpbf16ps): per chunk four vectors of 32 bfloat16 pairs, pair l of vector j holding
//         the elements that nibbles j and j + 4 of 32-bit lane l of the packed weights
//         multiply (see unpack_bf16).
enum class Form { int8, bf16 };

// From this many rows of x on, 4-bit products take x in the bf16 form when it is exact: one
// row of x does not repay the four unpack operations per bf16 vector (bench/quantized_bench).
constexpr int64_t kMinBf16Rows = 2;

// x prepared for the kernel, with the exact float sums of every weight group. Row m of each
// array starts at m times its row stride.
struct PreparedX {
  int64_t chunks;
  int64_t groups;
  int64_t group_stride;  // groups rounded up to a whole step: vector loads stay in the row
  int64_t row_bytes;     // of data
  // One cache-line aligned allocation: chunks of x loaded across two lines would halve the
  // load throughput that bounds the kernel.
  std::unique_ptr<void, decltype(&std::free)> storage{nullptr, &std::free};
  std::byte* data;
  float* lane_dx;  // [M, chunks * 16], int8 form only
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
    // The block's dx goes to the int32 lanes it spans: 4 lanes of 8 elements at 4 bits, 8 of 4
    // at 8 bits.
    if (bits == 4) {
      const int64_t at = in_chunk / 2;
      split(_mm512_permutex2var_ps(t0, even, t1), coarse + at, fine + at);
      split(_mm512_permutex2var_ps(t0, odd, t1), coarse + 64 + at, fine + 64 + at);
      _mm_storeu_ps(lane_dx + c * 16 + in_chunk / 8, _mm512_castps512_ps128(dx));
    } else {
      split(t0, coarse + in_chunk, fine + in_chunk);
      split(t1, coarse + in_chunk + 16, fine + in_chunk + 16);
      _mm256_storeu_ps(lane_dx + c * 16 + in_chunk / 4, _mm512_castps512_ps256(dx));
    }
    sums[b * kBlock / group_size] += _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
  }
}

// The bfloat16 words of p[0, 32) (exact: p holds bfloat16 values).
TESSERA_VNNI inline __m512i bf16_words(const float* p) {
  const auto lo = (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(p));
  const auto hi = (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(p + 16));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Row x [K] of bfloat16 values into the bf16 form (4-bit weights): per chunk the bfloat16 words
// of x in the order of the nibbles that unpack_bf16 produces.
TESSERA_VNNI void bf16_row(const float* x, int64_t K, uint16_t* out) {
  // Word 2l + h of vector j is element 8l + j + 4h of the chunk: the first 16 words come from
  // elements 0-63, the last 16 from 64-127 by the same index.
  alignas(64) uint16_t index[4][32];
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 32; ++i) index[j][i] = static_cast<uint16_t>(8 * (i % 16 / 2) + j + 4 * (i % 2));
  for (int64_t c = 0; c < K / 128; ++c) {
    const float* xc = x + c * 128;
    const __m512i t0 = bf16_words(xc), t1 = bf16_words(xc + 32), t2 = bf16_words(xc + 64), t3 = bf16_words(xc + 96);
    for (int j = 0; j < 4; ++j) {
      const __m512i idx = _mm512_load_si512(index[j]);
      const __m512i first = _mm512_permutex2var_epi16(t0, idx, t1);
      const __m512i second = _mm512_permutex2var_epi16(t2, idx, t3);
      _mm512_store_si512(out + c * 128 + j * 32, _mm512_inserti64x4(first, _mm512_castsi512_si256(second), 1));
    }
  }
}

TESSERA_VNNI void add_group_sums(const float* x, int64_t K, int group_size, float* sums) {
  for (int64_t b = 0; b < K / kBlock; ++b) {
    const __m512 v = _mm512_add_ps(_mm512_loadu_ps(x + b * kBlock), _mm512_loadu_ps(x + b * kBlock + 16));
    sums[b * kBlock / group_size] += _mm512_reduce_add_ps(v);
  }
}

// Whether every element of x [n] is a bfloat16 value.
TESSERA_VNNI bool all_bf16(const float* x, int64_t n) {
  __m512i low = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) low = _mm512_or_si512(low, _mm512_loadu_si512(x + i));
  low = _mm512_and_si512(low, _mm512_set1_epi32(0xFFFF));
  bool exact = _mm512_test_epi32_mask(low, low) == 0;
  for (; i < n; ++i) exact = exact && (__builtin_bit_cast(uint32_t, x[i]) & 0xFFFFu) == 0;
  return exact;
}

// Params [g, g + 16) as float32, the lanes of k only.
TESSERA_VNNI __m512 load_params(const void* params, ScaleType t, int64_t g, __mmask16 k) {
  if (t == ScaleType::float32) return _mm512_maskz_loadu_ps(k, static_cast<const float*>(params) + g);
  const __m256i h = _mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(params) + g);
  return t == ScaleType::float16 ? _mm512_cvtph_ps(h)
                                 : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// Prefetches the scales or biases of rows [n, n + rows): at one line per 16 or 32 groups of a row
// they are too sparse a stream for the hardware prefetchers, and each tile waited on DRAM for
// them (a 512 MB 4-bit matrix: 38 GB/s without, 44 with, 45 with no parameters read at all,
// against a 49 GB/s probe).
inline void prefetch_params(const void* params, ScaleType t, int64_t groups, int64_t n, int64_t rows) {
  const int64_t size = t == ScaleType::float32 ? 4 : 2;
  const char* begin = static_cast<const char*>(params) + n * groups * size;
  for (int64_t at = 0; at < rows * groups * size; at += 64) _mm_prefetch(begin + at, _MM_HINT_T0);
}

constexpr __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1u);
}

// In the bf16 form each 4-bit weight q becomes the bfloat16 value kBf16Offset + q: the nibble
// in the low mantissa bits under the exponent of 128 (exact, one bitwise op). The offset goes
// with the bias: per group (bias - kBf16Offset * scale) · sum x.
constexpr float kBf16Offset = 128.0f;

// Nibbles j and j + 4 of every 32-bit lane of v (bits 4j and 16 + 4j) as bfloat16 128 + q.
template <int J>
TESSERA_VNNI inline __m512bh unpack_bf16(__m512i v) {
  const __m512i shifted = J == 0 ? v : _mm512_srli_epi32(v, 4 * J);
  // (a & 0x000F000F) | 0x43004300
  return (__m512bh)_mm512_ternarylogic_epi32(shifted, _mm512_set1_epi32(0x000F000F), _mm512_set1_epi32(0x43004300),
                                             0xEA);
}

// 2-, 3-, 5- and 6-bit fields: every 8 elements of MLX's bitstream start on a byte (8 * B bits),
// so the 64 elements of a chunk are bytes [B * q, B * q + B) for each group q of 8. vpermw puts
// the 2B bytes of elements [16L, 16L + 16) at the start of 128-bit lane L; within the lane,
// vpshufb gives each element the two bytes holding its field as one 16-bit word (elements 0-7
// and 8-15 in two vectors), vpsrlvw shifts the field down and vpackuswb packs the words into the
// element's byte (AVX-512 BW only: no VBMI needed).
template <int B>
struct FieldTables {
  alignas(64) uint16_t lane_words[32];
  alignas(64) uint8_t window[2][64];
  alignas(64) uint16_t shift[2][32];

  constexpr FieldTables() : lane_words{}, window{}, shift{} {
    for (int w = 0; w < 32; ++w) lane_words[w] = static_cast<uint16_t>(w % 8 < B ? B * (w / 8) + w % 8 : 0);
    for (int half = 0; half < 2; ++half)
      for (int k = 0; k < 32; ++k) {
        const int bit = B * (8 * half + k % 8);
        window[half][2 * k] = static_cast<uint8_t>(bit / 8);
        window[half][2 * k + 1] = static_cast<uint8_t>(bit / 8 + 1);
        shift[half][k] = static_cast<uint16_t>(bit % 8);
      }
  }
};

template <int B>
constexpr FieldTables<B> kFieldTables{};

// The 64 B-bit fields of p[0, 8B) as bytes, element e in byte e.
template <int B>
TESSERA_VNNI inline __m512i unpack_fields(const uint8_t* p) {
  const FieldTables<B>& t = kFieldTables<B>;
  const __m512i packed = _mm512_maskz_loadu_epi8((__mmask64{1} << (8 * B)) - 1, p);
  const __m512i lanes = _mm512_permutexvar_epi16(_mm512_load_si512(t.lane_words), packed);
  const __m512i mask = _mm512_set1_epi16((1 << B) - 1);
  __m512i half[2];
  for (int h = 0; h < 2; ++h) {
    const __m512i words = _mm512_shuffle_epi8(lanes, _mm512_load_si512(t.window[h]));
    half[h] = _mm512_and_si512(_mm512_srlv_epi16(words, _mm512_load_si512(t.shift[h])), mask);
  }
  return _mm512_packus_epi16(half[0], half[1]);
}

// The chunk c of a weight row as bytes (at 4 and 8 bits the packed bytes themselves).
template <int BITS>
TESSERA_VNNI inline __m512i load_chunk(const uint8_t* row, int64_t c) {
  if constexpr (BITS == 4 || BITS == 8) return _mm512_loadu_si512(row + c * 64);
  else return unpack_fields<BITS>(row + c * chunk_bytes(BITS));
}

// Rows of x per pass over the weights: each unpacked chunk of weights serves all of them.
constexpr int kMaxPassRows = 8;

// The packed weights, scales and biases and x rows that one tile reads.
struct Operands {
  const QuantizedMatrix* w;
  const uint8_t* bytes;
  int64_t row_bytes;
  int64_t groups;
  int64_t chunks;
  int gs_shift;
  const std::byte* x[kMaxPassRows];
  const float* xdx[kMaxPassRows];
  const float* xsums[kMaxPassRows];
};

// How far ahead tile() prefetches. One tile ahead is about one DRAM latency at one row of x;
// two measured 3-5 % faster at 8 rows of x (1B-shaped 4-bit model, all matrices of a token)
// and no slower at one row, at 4 or 8 bits.
constexpr int64_t kPrefetchTiles = 2;

// y for NR weight rows from n times MR rows of x: each chunk of a weight row is unpacked once and
// dotted with all MR rows; each chunk of x is loaded once for all NR weight rows.
template <Form F, int BITS, int NR, int MR>
TESSERA_VNNI void tile(const Operands& o, int64_t n, float* const* y) {
  static_assert(F == Form::int8 || BITS == 4);
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
  prefetch_params(w.scales, w.scale_type, G, n + kPrefetchTiles * NR, NR);
  prefetch_params(w.biases, w.scale_type, G, n + kPrefetchTiles * NR, NR);
  for (int64_t g0 = 0; g0 < G; g0 += kGroupsPerStep) {
    const __mmask16 k = first_lanes(G - g0);
    __m512 S[NR];
    for (int r = 0; r < NR; ++r) {
      S[r] = load_params(w.scales, w.scale_type, (n + r) * G + g0, k);
      __m512 B = load_params(w.biases, w.scale_type, (n + r) * G + g0, k);
      if constexpr (F == Form::bf16) B = _mm512_fnmadd_ps(S[r], _mm512_set1_ps(kBf16Offset), B);
      for (int m = 0; m < MR; ++m) acc[r][m] = _mm512_fmadd_ps(B, _mm512_loadu_ps(o.xsums[m] + g0), acc[r][m]);
    }
    const int64_t c0 = (g0 << o.gs_shift) / E;
    const int64_t c1 = std::min(o.chunks, ((g0 + kGroupsPerStep) << o.gs_shift) / E);
    __m512i pos = lane_pos;
    for (int64_t c = c0; c < c1; ++c, pos = _mm512_add_epi32(pos, _mm512_set1_epi32(E))) {
      const __m512i group = _mm512_srl_epi32(pos, shift);
      __m512 s[NR];
      for (int r = 0; r < NR; ++r) s[r] = _mm512_permutexvar_ps(group, S[r]);
      // The rows kPrefetchTiles tiles ahead (contiguous after this tile's), in address order,
      // NR lines per chunk here: with several rows read at once the hardware prefetchers fall
      // behind DRAM. Prefetches past the matrix are dropped.
      const uint8_t* next_tile = rows[0] + kPrefetchTiles * NR * o.row_bytes;
      for (int r = 0; r < NR; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(next_tile + (c * NR + r) * chunk_bytes(BITS)), _MM_HINT_T0);
      if constexpr (F == Form::bf16) {
        __m512bh q[NR][4];
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
          const __m512i v = _mm512_loadu_si512(rows[r] + c * 64);
          q[r][0] = unpack_bf16<0>(v);
          q[r][1] = unpack_bf16<1>(v);
          q[r][2] = unpack_bf16<2>(v);
          q[r][3] = unpack_bf16<3>(v);
        }
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) {
          const std::byte* xc = o.x[m] + c * 256;
#pragma GCC unroll 4
          for (int r = 0; r < NR; ++r) {
            __m512 d = _mm512_dpbf16_ps(_mm512_setzero_ps(), q[r][0], (__m512bh)_mm512_load_si512(xc));
            d = _mm512_dpbf16_ps(d, q[r][1], (__m512bh)_mm512_load_si512(xc + 64));
            d = _mm512_dpbf16_ps(d, q[r][2], (__m512bh)_mm512_load_si512(xc + 128));
            d = _mm512_dpbf16_ps(d, q[r][3], (__m512bh)_mm512_load_si512(xc + 192));
            acc[r][m] = _mm512_fmadd_ps(d, s[r], acc[r][m]);
          }
        }
      } else {
        __m512i lo[NR], hi[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
          const __m512i v = load_chunk<BITS>(rows[r], c);
          if constexpr (BITS == 4) {
            lo[r] = _mm512_and_si512(v, nibble);
            hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
          } else {
            lo[r] = v;
          }
        }
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) {
          const auto* coarse = reinterpret_cast<const int8_t*>(o.x[m]) + c * 2 * E;
          const int8_t* fine = coarse + E;
          const __m512 dx = _mm512_load_ps(o.xdx[m] + c * 16);
#pragma GCC unroll 4
          for (int r = 0; r < NR; ++r) {
            __m512i d;
            if constexpr (BITS == 4) {
              __m512i dc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], _mm512_load_si512(coarse));
              dc = _mm512_dpbusd_epi32(dc, hi[r], _mm512_load_si512(coarse + 64));
              __m512i df = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], _mm512_load_si512(fine));
              df = _mm512_dpbusd_epi32(df, hi[r], _mm512_load_si512(fine + 64));
              d = _mm512_add_epi32(_mm512_slli_epi32(dc, kFineShift), df);
            } else {
              const __m512i dc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], _mm512_load_si512(coarse));
              const __m512i df = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], _mm512_load_si512(fine));
              d = _mm512_add_epi32(_mm512_slli_epi32(dc, kFineShift), df);
            }
            acc[r][m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(dx, s[r]), acc[r][m]);
          }
        }
      }
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int r = 0; r < NR; ++r) y[m][n + r] = _mm512_reduce_add_ps(acc[r][m]);
}

// Weight rows per tile. With several rows of x, two keep the accumulators in registers. With one,
// four share each chunk of x, except on rows of 2 KiB or more (a 1B model's down_proj at 4 bits,
// every matrix at 8), which are read one at a time: streams side by side a page or more apart
// lose bandwidth (a 512 MB matrix of 8192-element 4-bit rows: 38 GB/s one row at a time, 33 two,
// 31 four, against a 48 GB/s probe; the 1B model at 8 bits: tg 4 % faster with its 2 KiB rows
// read one at a time; rows of 1 KiB: the same for all three).
constexpr int64_t kLongRowBytes = 2048;
constexpr int tile_rows(int x_rows, int64_t row_bytes) {
  if (x_rows > 1) return 2;
  return row_bytes >= kLongRowBytes ? 1 : 4;
}

template <Form F, int BITS, int NR, int MR>
void run_tiles_of(const Operands& o, int64_t n0, int64_t n1, float* const* y) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) tile<F, BITS, NR, MR>(o, n, y);
  for (; n < n1; ++n) tile<F, BITS, 1, MR>(o, n, y);
}

template <Form F, int BITS, int MR>
void run_tiles(const Operands& o, int64_t n0, int64_t n1, float* const* y) {
  if (tile_rows(MR, o.row_bytes) == 1) return run_tiles_of<F, BITS, 1, MR>(o, n0, n1, y);
  run_tiles_of<F, BITS, tile_rows(MR, 0), MR>(o, n0, n1, y);
}

template <Form F, int BITS, int... MR>
void pass_for(int rows, const Operands& o, int64_t n0, int64_t n1, float* const* y,
              std::integer_sequence<int, MR...>) {
  ((rows == MR + 1 ? run_tiles<F, BITS, MR + 1>(o, n0, n1, y) : void()), ...);
}

// Weight rows per work item when x has more rows than one pass takes: their packed bytes stay
// in L1 while every pass of x goes over them.
constexpr int64_t kRowBlock = 16;

template <Form F, int BITS>
void gemv_with(const PreparedX& px, int64_t M, const QuantizedMatrix& w, float* y) {
  const int64_t N = w.rows;
  const int64_t grain = M <= kMaxPassRows ? tile_rows(static_cast<int>(M), w.cols * BITS / 8) : kRowBlock;
  parallel_for(N, grain, [&](int64_t n0, int64_t n1) {
    for (int64_t nb = n0; nb < n1; nb += kRowBlock) {
      const int64_t nb1 = M <= kMaxPassRows ? n1 : std::min(n1, nb + kRowBlock);
      for (int64_t m0 = 0; m0 < M; m0 += kMaxPassRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxPassRows, M - m0));
        Operands o{&w, reinterpret_cast<const uint8_t*>(w.packed), w.cols * BITS / 8, px.groups, px.chunks,
                   __builtin_ctz(static_cast<unsigned>(w.group_size)), {}, {}, {}};
        float* yr[kMaxPassRows];
        for (int m = 0; m < rows; ++m) {
          o.x[m] = px.data + (m0 + m) * px.row_bytes;
          if (F == Form::int8) o.xdx[m] = px.lane_dx + (m0 + m) * px.chunks * 16;
          o.xsums[m] = px.sums + (m0 + m) * px.group_stride;
          yr[m] = y + (m0 + m) * N;
        }
        pass_for<F, BITS>(rows, o, nb, nb1, yr, std::make_integer_sequence<int, kMaxPassRows>());
      }
      if (M <= kMaxPassRows) break;
    }
  });
}

PreparedX prepare_x(Form form, const float* x, int64_t M, int64_t K, int bits, int group_size) {
  const int64_t E = chunk_elems(bits);
  PreparedX px;
  px.chunks = K / E;
  px.groups = K / group_size;
  px.group_stride = (px.groups + kGroupsPerStep - 1) / kGroupsPerStep * kGroupsPerStep;
  px.row_bytes = px.chunks * (form == Form::int8 ? 2 * E : 256);  // a multiple of 64, as are the float arrays
  const size_t data_bytes = M * px.row_bytes;
  const size_t dx_bytes = form == Form::int8 ? M * px.chunks * 16 * sizeof(float) : 0;
  const size_t sums_bytes = M * px.group_stride * sizeof(float);
  px.storage.reset(std::aligned_alloc(64, data_bytes + dx_bytes + sums_bytes));
  if (!px.storage) throw std::bad_alloc();
  px.data = static_cast<std::byte*>(px.storage.get());
  px.lane_dx = reinterpret_cast<float*>(px.data + data_bytes);
  px.sums = reinterpret_cast<float*>(px.data + data_bytes + dx_bytes);
  std::fill_n(px.sums, M * px.group_stride, 0.0f);
  for (int64_t m = 0; m < M; ++m) {
    std::byte* row = px.data + m * px.row_bytes;
    float* sums = px.sums + m * px.group_stride;
    if (form == Form::int8) {
      quantize_row(x + m * K, K, bits, group_size, reinterpret_cast<int8_t*>(row), px.lane_dx + m * px.chunks * 16,
                   sums);
    } else {
      bf16_row(x + m * K, K, reinterpret_cast<uint16_t*>(row));
      add_group_sums(x + m * K, K, group_size, sums);
    }
  }
  return px;
}

template <Form F, int BITS>
void gemv_in(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
  gemv_with<F, BITS>(prepare_x(F, x, M, w.cols, BITS, w.group_size), M, w, y);
}

}  // namespace

bool supports(const QuantizedMatrix& w) {
  static const bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  const bool power_of_two = (w.group_size & (w.group_size - 1)) == 0;
  return cpu && w.bits >= 2 && w.bits <= 8 && w.bits != 7 && power_of_two && w.group_size >= kBlock &&
         w.cols % chunk_elems(w.bits) == 0;
}

// Dequantizing W costs as much as a few passes of the kernel over it, and the GEMM after it
// does a row of x faster than the kernel: measured on 2048 x 2048 (bench/quantized_bench), the
// kernel is twice as fast at 8 rows with 4-bit weights and even with 8-bit ones, whose int8
// form spends twice the float work per weight.
// Measured against dequantize + bf16 GEMM (bench/quantized_bench, 2048 x 2048): at 4 bits the
// kernel still wins at 24 rows (710 vs 841 us), at 8 bits they tie from 8 rows on.
int64_t max_rows(const QuantizedMatrix& w) { return w.bits == 4 ? 2 * kMaxPassRows : kMaxPassRows; }

void gemv(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
  switch (w.bits) {
    case 2: return gemv_in<Form::int8, 2>(x, M, w, y);
    case 3: return gemv_in<Form::int8, 3>(x, M, w, y);
    case 5: return gemv_in<Form::int8, 5>(x, M, w, y);
    case 6: return gemv_in<Form::int8, 6>(x, M, w, y);
    case 8: return gemv_in<Form::int8, 8>(x, M, w, y);
    default: break;
  }
  static const bool cpu_bf16 = __builtin_cpu_supports("avx512bf16");
  if (M >= kMinBf16Rows && cpu_bf16 && all_bf16(x, M * w.cols)) return gemv_in<Form::bf16, 4>(x, M, w, y);
  gemv_in<Form::int8, 4>(x, M, w, y);
}

}  // namespace tessera::cpu::qint8
