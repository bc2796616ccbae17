#include "backend/cpu/simd_convert.h"

#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"
#include "tessera/half.h"

namespace tessera::cpu {

namespace {

// Below this many elements a conversion runs on the calling thread.
constexpr int64_t kParallelGrain = 1 << 16;

void bf16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::bf16_bits_to_float(src[i]);
}

void f32_to_bf16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::float_to_bf16_bits(src[i]);
}

void f16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::f16_bits_to_float(src[i]);
}

void f32_to_f16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::float_to_f16_bits(src[i]);
}

TESSERA_TARGET_AVX512 void bf16_to_f32_avx512(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
  }
  bf16_to_f32_scalar(src + i, dst + i, n - i);
}

// Integer rounding, as in half.h, rather than vcvtneps2bf16, which flushes subnormals to zero.
TESSERA_TARGET_AVX512 void f32_to_bf16_avx512(const float* src, uint16_t* dst, int64_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i round_base = _mm512_set1_epi32(0x7fff);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i quiet = _mm512_set1_epi32(0x00400000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i u = _mm512_castps_si512(_mm512_loadu_ps(src + i));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
    __m512i rounded = _mm512_add_epi32(u, _mm512_add_epi32(round_base, odd));
    __m512i bits = _mm512_mask_or_epi32(rounded, nan, u, quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
  }
  f32_to_bf16_scalar(src + i, dst + i, n - i);
}

TESSERA_TARGET_AVX512 void f16_to_f32_avx512(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  }
  f16_to_f32_scalar(src + i, dst + i, n - i);
}

TESSERA_TARGET_AVX512 void f32_to_f16_avx512(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(src + i);
    __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // Every NaN becomes the canonical quiet NaN of its sign, as the scalar path does.
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m256i canonical = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16(static_cast<int16_t>(0x8000))),
                                        _mm256_set1_epi16(0x7e00));
    h = _mm256_mask_mov_epi16(h, nan, canonical);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
  f32_to_f16_scalar(src + i, dst + i, n - i);
}

template <class Src, class Dst>
void convert(const Src* src, Dst* dst, int64_t n, void (*fast)(const Src*, Dst*, int64_t),
             void (*portable)(const Src*, Dst*, int64_t)) {
  auto kernel = cpu_has_avx512() ? fast : portable;
  if (n < kParallelGrain) {
    kernel(src, dst, n);
    return;
  }
  parallel_for(n, kParallelGrain, [&](int64_t begin, int64_t end) { kernel(src + begin, dst + begin, end - begin); });
}

}  // namespace

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  convert(src, dst, n, bf16_to_f32_avx512, bf16_to_f32_scalar);
}

void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  convert(src, dst, n, f32_to_bf16_avx512, f32_to_bf16_scalar);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  convert(src, dst, n, f16_to_f32_avx512, f16_to_f32_scalar);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  convert(src, dst, n, f32_to_f16_avx512, f32_to_f16_scalar);
}

}  // namespace tessera::cpu
