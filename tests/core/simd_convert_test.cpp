// Bulk 16-bit float conversions must agree bit for bit with the scalar ones of half.h.
#include "backend/cpu/simd_convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tessera/half.h"

namespace tessera::cpu {
namespace {

std::vector<uint16_t> every_16bit_pattern() {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  return all;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Random floats of every magnitude plus the special values.
std::vector<float> interesting_floats() {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65520.0f, 65519.99f, 1e-8f, -6e-8f, 3e-5f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::min()};
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    v.push_back(f);
  }
  return v;
}

TEST(SimdConvert, Bf16ToF32EveryPattern) {
  auto src = every_16bit_pattern();
  std::vector<float> dst(src.size());
  bf16_to_f32(src.data(), dst.data(), static_cast<int64_t>(src.size()));
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(bits(dst[i]), bits(detail::bf16_bits_to_float(src[i]))) << i;
}

TEST(SimdConvert, F16ToF32EveryPattern) {
  auto src = every_16bit_pattern();
  std::vector<float> dst(src.size());
  f16_to_f32(src.data(), dst.data(), static_cast<int64_t>(src.size()));
  for (size_t i = 0; i < src.size(); ++i) {
    float want = detail::f16_bits_to_float(src[i]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(dst[i])) << i;
    } else {
      ASSERT_EQ(bits(dst[i]), bits(want)) << i;
    }
  }
}

TEST(SimdConvert, F32ToBf16MatchesScalar) {
  auto src = interesting_floats();
  std::vector<uint16_t> dst(src.size());
  f32_to_bf16(src.data(), dst.data(), static_cast<int64_t>(src.size()));
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(dst[i], detail::float_to_bf16_bits(src[i])) << src[i];
}

TEST(SimdConvert, F32ToF16MatchesScalar) {
  auto src = interesting_floats();
  std::vector<uint16_t> dst(src.size());
  f32_to_f16(src.data(), dst.data(), static_cast<int64_t>(src.size()));
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(dst[i], detail::float_to_f16_bits(src[i])) << src[i];
}

TEST(SimdConvert, ShortAndEmptyInputs) {
  float src[3] = {1.5f, -2.0f, 3.25f};
  uint16_t half[3] = {7, 7, 7};
  f32_to_bf16(src, half, 0);
  EXPECT_EQ(half[0], 7);
  f32_to_bf16(src, half, 3);
  float back[3];
  bf16_to_f32(half, back, 3);
  EXPECT_EQ(back[0], 1.5f);
  EXPECT_EQ(back[1], -2.0f);
  EXPECT_EQ(back[2], 3.25f);
}

}  // namespace
}  // namespace tessera::cpu
