#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tessera/tessera.h"

namespace tx = tessera;

TEST(Dtype, SizesAndNames) {
  EXPECT_EQ(tx::size_of(tx::bool_), 1u);
  EXPECT_EQ(tx::size_of(tx::uint8), 1u);
  EXPECT_EQ(tx::size_of(tx::int8), 1u);
  EXPECT_EQ(tx::size_of(tx::float16), 2u);
  EXPECT_EQ(tx::size_of(tx::bfloat16), 2u);
  EXPECT_EQ(tx::size_of(tx::uint32), 4u);
  EXPECT_EQ(tx::size_of(tx::int32), 4u);
  EXPECT_EQ(tx::size_of(tx::float32), 4u);
  EXPECT_EQ(tx::size_of(tx::int64), 8u);
  EXPECT_EQ(tx::to_string(tx::bfloat16), "bfloat16");
  EXPECT_EQ(tx::to_string(tx::bool_), "bool");
  EXPECT_EQ(tx::dtype_from_string("float32"), tx::float32);
  EXPECT_EQ(tx::dtype_from_string("bfloat16"), tx::bfloat16);
  EXPECT_EQ(tx::dtype_from_string("float16"), tx::float16);
  EXPECT_EQ(tx::dtype_from_string("bf16"), tx::bfloat16);
  EXPECT_THROW(tx::dtype_from_string("float64"), std::invalid_argument);
  EXPECT_TRUE(tx::is_floating_point(tx::bfloat16));
  EXPECT_FALSE(tx::is_floating_point(tx::int32));
  EXPECT_TRUE(tx::is_integral(tx::uint8));
  EXPECT_FALSE(tx::is_integral(tx::bool_));
}

TEST(Dtype, PromotionFollowsMlx) {
  using tx::promote_types;
  EXPECT_EQ(promote_types(tx::bool_, tx::uint8), tx::uint8);
  EXPECT_EQ(promote_types(tx::uint8, tx::int8), tx::int32);
  EXPECT_EQ(promote_types(tx::uint32, tx::int32), tx::int64);
  EXPECT_EQ(promote_types(tx::int8, tx::int32), tx::int32);
  EXPECT_EQ(promote_types(tx::int32, tx::int64), tx::int64);
  EXPECT_EQ(promote_types(tx::int64, tx::float16), tx::float16);
  EXPECT_EQ(promote_types(tx::int32, tx::float32), tx::float32);
  EXPECT_EQ(promote_types(tx::float16, tx::bfloat16), tx::float32);
  EXPECT_EQ(promote_types(tx::bfloat16, tx::float32), tx::float32);
  EXPECT_EQ(promote_types(tx::bool_, tx::bfloat16), tx::bfloat16);
  // Symmetric.
  const tx::Dtype all[] = {tx::bool_, tx::uint8, tx::uint32, tx::int8, tx::int32,
                           tx::int64, tx::float16, tx::bfloat16, tx::float32};
  for (auto a : all) {
    for (auto b : all) EXPECT_EQ(promote_types(a, b), promote_types(b, a));
  }
}

TEST(Dtype, ArrayOpsPromote) {
  tx::array i32({1, 2});
  tx::array f32({1.0f, 2.0f});
  tx::array bf = tx::astype(f32, tx::bfloat16);
  tx::array f16 = tx::astype(f32, tx::float16);
  EXPECT_EQ((i32 + f32).dtype(), tx::float32);
  EXPECT_EQ((bf + f16).dtype(), tx::float32);
  EXPECT_EQ((bf + bf).dtype(), tx::bfloat16);
  EXPECT_EQ((i32 + tx::astype(i32, tx::int64)).dtype(), tx::int64);
  EXPECT_EQ((i32 / i32).dtype(), tx::float32);  // true division
  EXPECT_EQ(tx::floor_divide(i32, i32).dtype(), tx::int32);
  EXPECT_EQ((i32 < f32).dtype(), tx::bool_);
}

TEST(Dtype, ScalarsAreWeaklyTyped) {
  tx::array bf = tx::astype(tx::array({1.0f, 2.0f}), tx::bfloat16);
  tx::array i8 = tx::astype(tx::array({1, 2}), tx::int8);
  tx::array u8 = tx::astype(tx::array({1, 2}), tx::uint8);
  tx::array b = tx::array({1, 0}) > 0;
  EXPECT_EQ((bf * 2.0f).dtype(), tx::bfloat16);
  EXPECT_EQ((2.0f * bf).dtype(), tx::bfloat16);
  EXPECT_EQ((bf + 1).dtype(), tx::bfloat16);
  EXPECT_EQ((i8 + 1).dtype(), tx::int8);
  EXPECT_EQ((u8 * 3).dtype(), tx::uint8);
  EXPECT_EQ((i8 + 1.5f).dtype(), tx::float32);
  EXPECT_EQ((b + 1).dtype(), tx::int32);
  EXPECT_EQ(tx::add(tx::array(1), tx::array(2.0f)).dtype(), tx::float32);
  EXPECT_EQ((bf * 2.0f).to_vector<float>(), (std::vector<float>{2.0f, 4.0f}));
  EXPECT_EQ((i8 + 1).to_vector<int8_t>(), (std::vector<int8_t>{2, 3}));
  // Explicitly typed scalars promote normally.
  EXPECT_EQ((bf * tx::array(2.0f, tx::float32)).dtype(), tx::float32);
}

TEST(Half, Bfloat16RoundsToNearestEven) {
  EXPECT_EQ(tx::bfloat16_t(1.0f).bits, 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(tx::bfloat16_t(1.0f + 1.0f / 256).bits, 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: rounds up to even.
  EXPECT_EQ(tx::bfloat16_t(1.0f + 3.0f / 256).bits, 0x3f82);
  EXPECT_EQ(tx::bfloat16_t(1.0f + 1.5f / 256).bits, 0x3f81);
  EXPECT_EQ(static_cast<float>(tx::bfloat16_t(-2.5f)), -2.5f);
  EXPECT_TRUE(std::isnan(static_cast<float>(tx::bfloat16_t(std::nanf("")))));
  EXPECT_TRUE(std::isinf(static_cast<float>(tx::bfloat16_t(std::numeric_limits<float>::infinity()))));
  EXPECT_EQ(tx::bfloat16_t(3.4e38f).bits, 0x7f80);  // overflows to inf when rounding up
}

TEST(Half, Float16RoundsToNearestEven) {
  EXPECT_EQ(tx::float16_t(1.0f).bits, 0x3c00);
  EXPECT_EQ(tx::float16_t(-2.0f).bits, 0xc000);
  EXPECT_EQ(tx::float16_t(65504.0f).bits, 0x7bff);
  EXPECT_EQ(tx::float16_t(65520.0f).bits, 0x7c00);  // halfway to the next binade: inf
  EXPECT_EQ(tx::float16_t(1.0f + 1.0f / 2048).bits, 0x3c00);  // tie to even
  EXPECT_EQ(tx::float16_t(1.0f + 3.0f / 2048).bits, 0x3c02);
  EXPECT_EQ(tx::float16_t(5.9604645e-08f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(tx::float16_t(2.9802322e-08f).bits, 0x0000);  // half of it: tie to even (0)
  EXPECT_EQ(tx::float16_t(6.1035156e-05f).bits, 0x0400);  // smallest normal
  EXPECT_FLOAT_EQ(static_cast<float>(tx::float16_t::from_bits(0x0001)), 5.9604645e-08f);
  EXPECT_FLOAT_EQ(static_cast<float>(tx::float16_t::from_bits(0x3555)), 0.33325195f);
  EXPECT_TRUE(std::isnan(static_cast<float>(tx::float16_t(std::nanf("")))));
  // Every f16 value survives a round trip through float.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    if ((b & 0x7c00) == 0x7c00 && (b & 0x3ff)) continue;  // NaNs
    auto h = tx::float16_t::from_bits(static_cast<uint16_t>(b));
    ASSERT_EQ(tx::float16_t(static_cast<float>(h)).bits, b);
  }
}

TEST(Dtype, AstypeConvertsEveryPair) {
  const tx::Dtype all[] = {tx::bool_, tx::uint8, tx::uint32, tx::int8, tx::int32,
                           tx::int64, tx::float16, tx::bfloat16, tx::float32};
  tx::array src({0.0f, 1.0f, 2.0f, 100.0f});
  for (auto a : all) {
    for (auto b : all) {
      auto v = tx::astype(tx::astype(src, a), b).to_vector<float>();
      float big = (a == tx::bool_ || b == tx::bool_) ? 1.0f : 100.0f;
      float two = (a == tx::bool_ || b == tx::bool_) ? 1.0f : 2.0f;
      EXPECT_EQ(v, (std::vector<float>{0.0f, 1.0f, two, big})) << tx::to_string(a) << " -> " << tx::to_string(b);
    }
  }
  EXPECT_EQ(tx::astype(tx::array({-1.5f, 2.7f, 300.0f}), tx::int8).to_vector<int>(), (std::vector<int>{-1, 2, 127}));
  EXPECT_EQ(tx::astype(tx::array({-1.0f}), tx::uint8).to_vector<int>(), (std::vector<int>{0}));
  EXPECT_EQ(tx::astype(tx::array({1.0f / 3}), tx::bfloat16).to_vector<tx::bfloat16_t>()[0].bits, 0x3eab);
}
