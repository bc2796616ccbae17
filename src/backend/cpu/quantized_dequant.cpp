// Natural-order dequantization, 32 elements at a time.
//
// A block of 32 elements of `bits` bits occupies exactly 4 * bits bytes of the row's bitstream
// (block starts are byte aligned), so one masked load brings it into a register. A byte
// permutation (vpermb, AVX512_VBMI) then gives each 32-bit lane the four bytes starting at its
// element's first byte, a per-lane shift and a mask leave the element, and the same code serves
// every bit width, the straddling 3-, 5- and 6-bit elements included. Groups are multiples of
// 32 elements, so a block shares one scale and one bias.
#include "backend/cpu/quantized_dequant.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/quantized_simd.h"
#include "backend/cpu/simd_features.h"

namespace tessera::cpu {

namespace {

constexpr int64_t kBlock = 32;
// How many rows ahead for_each_block prefetches the packed bytes.
constexpr int64_t kPrefetchRows = 8;

bool cpu_has_avx512_vbmi() {
#if defined(__x86_64__)
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512vbmi");
  return has;
#else
  return false;
#endif
}

inline float load_param(const void* params, ScaleType t, int64_t i) {
  switch (t) {
    case ScaleType::float32: return static_cast<const float*>(params)[i];
    case ScaleType::bfloat16: return detail::bf16_bits_to_float(static_cast<const uint16_t*>(params)[i]);
    case ScaleType::float16: return detail::f16_bits_to_float(static_cast<const uint16_t*>(params)[i]);
  }
  return 0.0f;
}

// Without AVX512_VBMI: one element at a time.
template <class Store>
void dequantize_scalar(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, const Store& store) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed);
  const int64_t row_bytes = w.cols * w.bits / 8;
  const int64_t G = w.groups_per_row();
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t g = r * G + c / w.group_size;
      const float q = static_cast<float>(qsimd::extract_bits(bytes + r * row_bytes, c, w.bits));
      store(r - r0, c - c0, std::fma(q, load_param(w.scales, w.scale_type, g), load_param(w.biases, w.scale_type, g)));
    }
}

// Everything below up to pop_options is compiled for AVX-512 with VBMI and BF16 (lambdas and
// template instantiations included, so that they inline into each other) and only runs
// where the CPU has them.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512bf16,fma")

// For every group's part of the rows [r0, r1) and columns [c0, c1): on_group(scale, bias), then
// on_block(first byte of the block, r, c) for each 32-element block in it.
template <class OnGroup, class OnBlock>
inline __attribute__((always_inline)) void for_each_block(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0,
                                                          int64_t c1, OnGroup&& on_group, OnBlock&& on_block) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed);
  const int64_t row_bytes = w.cols * w.bits / 8;
  const int64_t block_bytes = kBlock * w.bits / 8;
  const int64_t G = w.groups_per_row();
  const int64_t gs = w.group_size;
  const int64_t g0 = c0 / gs;
  const int64_t span_bytes = (c1 - c0) * w.bits / 8;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = bytes + r * row_bytes + c0 * w.bits / 8;
    // The rows' spans are far apart: fetch a later row's span ahead of use.
    if (r + kPrefetchRows < r1)
      for (int64_t off = 0; off < span_bytes; off += 64)
        _mm_prefetch(src + kPrefetchRows * row_bytes + off, _MM_HINT_T0);
    for (int64_t g = g0, c = c0; c < c1; ++g) {
      on_group(load_param(w.scales, w.scale_type, r * G + g), load_param(w.biases, w.scale_type, r * G + g));
      const int64_t end = std::min(c1, (g + 1) * gs);
      for (; c < end; c += kBlock, src += block_bytes) on_block(src, r, c);
    }
  }
}

// Where element i of a block lies: in the 16-bit word at byte (i * bits) / 8, shifted right by
// (i * bits) % 8 (an element of at most 8 bits never spans more than two bytes).
struct BlockLayout {
  alignas(64) uint8_t word_index[64];
  alignas(64) uint16_t word_shift[32];
  alignas(64) uint8_t dword_index[2][64];
  alignas(64) uint32_t dword_shift[2][16];
  explicit BlockLayout(int bits) {
    for (int i = 0; i < 32; ++i) {
      const int bit = i * bits;
      for (int j = 0; j < 2; ++j) word_index[2 * i + j] = static_cast<uint8_t>(bit / 8 + j);
      word_shift[i] = static_cast<uint16_t>(bit % 8);
      for (int j = 0; j < 4; ++j) dword_index[i / 16][4 * (i % 16) + j] = static_cast<uint8_t>(bit / 8 + j);
      dword_shift[i / 16][i % 16] = static_cast<uint32_t>(bit % 8);
    }
  }
};

// Reads the packed blocks of one matrix. A block's 4 * bits bytes are loaded as 32 (the extra
// ones are ignored), except at the very end of the matrix, where a masked load stays inside it.
class BlockReader {
 public:
  explicit BlockReader(const QuantizedMatrix& w) : layout_(w.bits) {
    end_ = reinterpret_cast<const uint8_t*>(w.packed) + w.rows * (w.cols * w.bits / 8);
    tail_mask_ = static_cast<__mmask32>((uint64_t{1} << (4 * w.bits)) - 1);
    value_mask_ = (1 << w.bits) - 1;
  }

  __m512i load(const uint8_t* src) const {
    const __m256i v = end_ - src >= 32 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))
                                       : _mm256_maskz_loadu_epi8(tail_mask_, src);
    return _mm512_zextsi256_si512(v);
  }

  // The 32 elements of the block at src as 16-bit integers.
  struct Words {
    __m512i index, shift, mask;
    __m512i operator()(__m512i v) const {
      return _mm512_and_si512(_mm512_srlv_epi16(_mm512_permutexvar_epi8(index, v), shift), mask);
    }
  };
  Words words() const {
    return {_mm512_load_si512(layout_.word_index), _mm512_load_si512(layout_.word_shift),
            _mm512_set1_epi16(static_cast<int16_t>(value_mask_))};
  }

  // The elements 0-15 and 16-31 of the block at src as 32-bit integers.
  struct Dwords {
    __m512i index_lo, index_hi, shift_lo, shift_hi, mask;
    void operator()(__m512i v, __m512i& lo, __m512i& hi) const {
      lo = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi8(index_lo, v), shift_lo), mask);
      hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi8(index_hi, v), shift_hi), mask);
    }
  };
  Dwords dwords() const {
    return {_mm512_load_si512(layout_.dword_index[0]), _mm512_load_si512(layout_.dword_index[1]),
            _mm512_load_si512(layout_.dword_shift[0]), _mm512_load_si512(layout_.dword_shift[1]),
            _mm512_set1_epi32(value_mask_)};
  }

 private:
  BlockLayout layout_;
  const uint8_t* end_;
  __mmask32 tail_mask_;
  int value_mask_;
};

void dequantize_f32_avx512(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out,
                           int64_t ldo) {
  const BlockReader reader(w);
  const BlockReader::Dwords dwords = reader.dwords();
  __m512 s = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for_each_block(
      w, r0, r1, c0, c1,
      [&](float scale, float bias) {
        s = _mm512_set1_ps(scale);
        b = _mm512_set1_ps(bias);
      },
      [&](const uint8_t* src, int64_t r, int64_t c) {
        __m512i lo, hi;
        dwords(reader.load(src), lo, hi);
        float* o = out + (r - r0) * ldo + (c - c0);
        _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), s, b));
        _mm512_storeu_ps(o + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), s, b));
      });
}

// Up to 6 bits a group's elements take at most 64 distinct values: they are computed once per
// group into a table of bfloat16 (q * scale + bias for every q) and looked up with a word
// permutation, 32 elements per instruction.
template <int kTables>
void dequantize_bf16_table(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, uint16_t* out,
                           int64_t ldo) {
  const BlockReader reader(w);
  const BlockReader::Words words = reader.words();
  __m512 q[2 * kTables];
  for (int t = 0; t < 2 * kTables; ++t)
    q[t] = _mm512_add_ps(_mm512_set1_ps(16.0f * static_cast<float>(t)),
                         _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  __m512i table[kTables];
  for_each_block(
      w, r0, r1, c0, c1,
      [&](float scale, float bias) {
        const __m512 s = _mm512_set1_ps(scale);
        const __m512 b = _mm512_set1_ps(bias);
        for (int t = 0; t < kTables; ++t)
          table[t] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_fmadd_ps(q[2 * t + 1], s, b), _mm512_fmadd_ps(q[2 * t], s, b));
      },
      [&](const uint8_t* src, int64_t r, int64_t c) {
        const __m512i i = words(reader.load(src));
        const __m512i v = kTables == 1 ? _mm512_permutexvar_epi16(i, table[0])
                                       : _mm512_permutex2var_epi16(table[0], i, table[kTables - 1]);
        _mm512_storeu_si512(out + (r - r0) * ldo + (c - c0), v);
      });
}

void dequantize_bf16_avx512(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, uint16_t* out,
                            int64_t ldo) {
  if (w.bits <= 5) return dequantize_bf16_table<1>(w, r0, r1, c0, c1, out, ldo);
  if (w.bits == 6) return dequantize_bf16_table<2>(w, r0, r1, c0, c1, out, ldo);
  __m512 s = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for_each_block(
      w, r0, r1, c0, c1,
      [&](float scale, float bias) {
        s = _mm512_set1_ps(scale);
        b = _mm512_set1_ps(bias);
      },
      [&](const uint8_t* src, int64_t r, int64_t c) {
        const __m512i lo = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
        const __m512i hi = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16)));
        const __m512 wlo = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), s, b);
        const __m512 whi = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), s, b);
        _mm512_storeu_si512(out + (r - r0) * ldo + (c - c0), (__m512i)_mm512_cvtne2ps_pbh(whi, wlo));
      });
}

#pragma GCC pop_options

}  // namespace

void dequantize_block_f32(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out,
                          int64_t ldo) {
  if (cpu_has_avx512_vbmi() && cpu_has_avx512_bf16()) return dequantize_f32_avx512(w, r0, r1, c0, c1, out, ldo);
  dequantize_scalar(w, r0, r1, c0, c1, [&](int64_t r, int64_t c, float v) { out[r * ldo + c] = v; });
}

void dequantize_block_bf16(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, uint16_t* out,
                           int64_t ldo) {
  if (cpu_has_avx512_vbmi() && cpu_has_avx512_bf16()) return dequantize_bf16_avx512(w, r0, r1, c0, c1, out, ldo);
  dequantize_scalar(w, r0, r1, c0, c1,
                    [&](int64_t r, int64_t c, float v) { out[r * ldo + c] = detail::float_to_bf16_bits(v); });
}

}  // namespace tessera::cpu
