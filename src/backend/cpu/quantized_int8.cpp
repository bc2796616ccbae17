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

#include "backend/cpu/quantized_int8_layout.h"
#include "backend/cpu/thread_pool.h"

// avx512bf16 is enabled for the tiles shared by both forms of x; only the bf16 form's intrinsics
// emit its instructions, and that form runs only where the CPU has them.
#define TESSERA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))

namespace tessera::cpu::qint8 {

namespace {

using namespace detail;

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

}  // namespace

namespace detail {

TESSERA_VNNI void add_group_sums(const float* x, int64_t K, int group_size, float* sums) {
  for (int64_t b = 0; b < K / kBlock; ++b) {
    const __m512 v = _mm512_add_ps(_mm512_loadu_ps(x + b * kBlock), _mm512_loadu_ps(x + b * kBlock + 16));
    sums[b * kBlock / group_size] += _mm512_reduce_add_ps(v);
  }
}

}  // namespace detail

namespace {

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

}  // namespace

namespace avx512 {
#define TESSERA_QINT8_TARGET TESSERA_VNNI
#include "backend/cpu/quantized_int8_tiles.inc"
#undef TESSERA_QINT8_TARGET
}  // namespace avx512

// The kernels of quantized_int8_vbmi.cpp: 2-, 3-, 5- and 6-bit weights on CPUs with AVX-512 VBMI.
namespace vbmi {
void gemv_fields(const detail::PreparedX& px, int64_t M, const QuantizedMatrix& w, float* y);
}  // namespace vbmi

namespace {

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
  avx512::gemv_with<F, BITS>(prepare_x(F, x, M, w.cols, BITS, w.group_size), M, w, y);
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
  static const bool cpu_vbmi = __builtin_cpu_supports("avx512vbmi");
  const bool fields = w.bits != 4 && w.bits != 8;
  if (fields && cpu_vbmi) return vbmi::gemv_fields(prepare_x(Form::int8, x, M, w.cols, w.bits, w.group_size), M, w, y);
  gemv_avx512_bw(x, M, w, y);
}

void gemv_avx512_bw(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
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
