#include "backend/cpu/random.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its -W(maybe-)uninitialized
// reports once they are inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>
#include <tuple>

#include "backend/cpu/elementwise_ops.h"
#include "backend/cpu/simd_features.h"

namespace tessera::cpu {

namespace {

constexpr int kRotations[8] = {13, 15, 26, 6, 17, 29, 16, 24};

inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }


}  // namespace

std::pair<uint32_t, uint32_t> threefry2x32(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1) {
  const uint32_t ks[3] = {key0, key1, key0 ^ key1 ^ 0x1BD11BDAu};
  uint32_t x0 = count0 + ks[0];
  uint32_t x1 = count1 + ks[1];
  for (int group = 0; group < 5; ++group) {
    for (int i = 0; i < 4; ++i) {
      x0 += x1;
      x1 = rotl(x1, kRotations[(group % 2) * 4 + i]) ^ x0;
    }
    x0 += ks[(group + 1) % 3];
    x1 += ks[(group + 2) % 3] + static_cast<uint32_t>(group + 1);
  }
  return {x0, x1};
}

namespace {

TESSERA_TARGET_AVX512 void threefry2x32_avx512(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1,
                                              uint32_t* lo, uint32_t* hi) {
  const uint32_t ks[3] = {key0, key1, key0 ^ key1 ^ 0x1BD11BDAu};
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m512i x0 = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(count0)), lane),
                                _mm512_set1_epi32(static_cast<int>(ks[0])));
  __m512i x1 = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(count1)), lane),
                                _mm512_set1_epi32(static_cast<int>(ks[1])));
  for (int group = 0; group < 5; ++group) {
    for (int i = 0; i < 4; ++i) {
      x0 = _mm512_add_epi32(x0, x1);
      x1 = _mm512_xor_si512(_mm512_rolv_epi32(x1, _mm512_set1_epi32(kRotations[(group % 2) * 4 + i])), x0);
    }
    x0 = _mm512_add_epi32(x0, _mm512_set1_epi32(static_cast<int>(ks[(group + 1) % 3])));
    x1 = _mm512_add_epi32(x1, _mm512_set1_epi32(static_cast<int>(ks[(group + 2) % 3] + static_cast<uint32_t>(group + 1))));
  }
  _mm512_storeu_si512(lo, x0);
  _mm512_storeu_si512(hi, x1);
}

}  // namespace

void threefry2x32_lanes(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1, uint32_t* lo, uint32_t* hi) {
  static_assert(kThreefryLanes == 16);
  if (cpu_has_avx512()) return threefry2x32_avx512(key0, key1, count0, count1, lo, hi);
  for (uint32_t i = 0; i < kThreefryLanes; ++i) std::tie(lo[i], hi[i]) = threefry2x32(key0, key1, count0 + i, count1 + i);
}

float normal_from_word(uint32_t word) {
  // Odd multiples of 2^-24 in (-1, 1): symmetric around 0 and never +-1.
  auto k = static_cast<int32_t>(word >> 8);
  float u = static_cast<float>(2 * k - ((1 << 24) - 1)) * 0x1p-24f;
  return std::sqrt(2.0f) * erfinv_f(u);
}

}  // namespace tessera::cpu
