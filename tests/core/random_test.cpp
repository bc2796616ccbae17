// tessera::random: the threefry generator, keys, and the statistics of every distribution.
#include "tessera/random.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "backend/cpu/random.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

struct Moments {
  double mean = 0, var = 0;
};

Moments moments(const std::vector<float>& v) {
  Moments m;
  for (float x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (float x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size());
  return m;
}

TEST(Threefry, KnownAnswerVectors) {
  // Test vectors of the Random123 reference implementation (threefry2x32, 20 rounds).
  EXPECT_EQ(cpu::threefry2x32(0, 0, 0, 0), std::make_pair(0x6b200159u, 0x99ba4efeu));
  EXPECT_EQ(cpu::threefry2x32(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu),
            std::make_pair(0x1cb996fcu, 0xbb002be7u));
  EXPECT_EQ(cpu::threefry2x32(0x13198a2eu, 0x03707344u, 0x243f6a88u, 0x85a308d3u),
            std::make_pair(0xc4923a9cu, 0x483df7a0u));
}

// Sixteen counter pairs at a time (SIMD lanes where the CPU has them) give the scalar words,
// counters wrapping past 2^32 included.
TEST(Threefry, LanesMatchTheScalarFunction) {
  for (auto [key0, key1, count0, count1] : std::vector<std::array<uint32_t, 4>>{
           {0, 0, 0, 0}, {0x13198a2eu, 0x03707344u, 0x243f6a88u, 0x85a308d3u}, {7, 5, 0xfffffff8u, 0xfffffffeu}}) {
    uint32_t lo[cpu::kThreefryLanes], hi[cpu::kThreefryLanes];
    cpu::threefry2x32_lanes(key0, key1, count0, count1, lo, hi);
    for (uint32_t i = 0; i < cpu::kThreefryLanes; ++i) {
      EXPECT_EQ(std::make_pair(lo[i], hi[i]), cpu::threefry2x32(key0, key1, count0 + i, count1 + i)) << "lane " << i;
    }
  }
}

TEST(RandomKeys, KeyHoldsTheSeedWords) {
  array k = random::key(0x0000000500000007ull);
  EXPECT_EQ(k.dtype(), uint32);
  EXPECT_EQ(k.shape(), (Shape{2}));
  EXPECT_EQ(k.to_vector<uint32_t>(), (std::vector<uint32_t>{5u, 7u}));
}

TEST(RandomKeys, BitsFollowTheCounterScheme) {
  // Word j and word j + half come from hashing the counter pair (j, j + half).
  auto words = random::bits({5}, random::key(3)).to_vector<uint32_t>();
  for (uint32_t j = 0; j < 3; ++j) {
    auto [lo, hi] = cpu::threefry2x32(0, 3, j, j + 3);
    EXPECT_EQ(words[j], lo);
    if (j + 3 < 5) {
      EXPECT_EQ(words[j + 3], hi);
    }
  }
}

TEST(RandomKeys, SameKeySameNumbers) {
  array k = random::key(1234);
  EXPECT_EQ(random::uniform({100}, float32, k).to_vector<float>(), random::uniform({100}, float32, k).to_vector<float>());
  EXPECT_EQ(random::normal({7, 3}, float32, 0, 1, k).to_vector<float>(),
            random::normal({7, 3}, float32, 0, 1, k).to_vector<float>());
  EXPECT_NE(random::uniform({100}, float32, k).to_vector<float>(),
            random::uniform({100}, float32, random::key(1235)).to_vector<float>());
}

TEST(RandomKeys, SplitGivesDistinctDeterministicKeys) {
  array k = random::key(7);
  auto a = random::split(k, 3);
  auto b = random::split(k, 3);
  ASSERT_EQ(a.size(), 3u);
  std::vector<std::vector<uint32_t>> seen = {k.to_vector<uint32_t>()};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a[i].shape(), (Shape{2}));
    EXPECT_EQ(a[i].to_vector<uint32_t>(), b[i].to_vector<uint32_t>());
    seen.push_back(a[i].to_vector<uint32_t>());
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  // A split key works as a key, including as a strided view.
  EXPECT_EQ(random::uniform({4}, float32, a[1]).size(), 4u);
}

TEST(RandomKeys, SplitStreamsAreUncorrelated) {
  auto keys = random::split(random::key(99));
  auto x = random::normal({50000}, float32, 0, 1, keys[0]).to_vector<float>();
  auto y = random::normal({50000}, float32, 0, 1, keys[1]).to_vector<float>();
  double corr = 0;
  for (size_t i = 0; i < x.size(); ++i) corr += static_cast<double>(x[i]) * y[i];
  corr /= static_cast<double>(x.size());
  EXPECT_LT(std::fabs(corr), 0.02);  // 4.5 standard errors
}

TEST(RandomKeys, GlobalSeedIsReproducible) {
  random::seed(42);
  auto a = random::uniform({16}).to_vector<float>();
  auto a2 = random::uniform({16}).to_vector<float>();
  random::seed(42);
  auto b = random::uniform({16}).to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, a2);
}

TEST(RandomUniform, Statistics) {
  auto v = random::uniform({100000}, float32, random::key(1)).to_vector<float>();
  for (float x : v) ASSERT_TRUE(x >= 0.0f && x < 1.0f) << x;
  Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.5, 0.005);
  EXPECT_NEAR(m.var, 1.0 / 12, 0.002);
}

TEST(RandomUniform, BoundsBroadcastAndStayBelowHigh) {
  array low = array({-1.0f, 10.0f});
  array high = array({1.0f, 12.0f});
  auto v = random::uniform(low, high, {5000, 2}, float32, random::key(2)).to_vector<float>();
  for (size_t i = 0; i < v.size(); i += 2) {
    ASSERT_TRUE(v[i] >= -1.0f && v[i] < 1.0f);
    ASSERT_TRUE(v[i + 1] >= 10.0f && v[i + 1] < 12.0f);
  }
  // bf16 keeps 8 bits of precision: without care values near high would round up to it.
  auto b = random::uniform(array(0.0f), array(1.0f), {20000}, bfloat16, random::key(3));
  EXPECT_EQ(b.dtype(), bfloat16);
  auto bv = b.to_vector<float>();
  EXPECT_LT(*std::max_element(bv.begin(), bv.end()), 1.0f);
  EXPECT_GT(*std::max_element(bv.begin(), bv.end()), 0.99f);
  EXPECT_NEAR(moments(bv).mean, 0.5, 0.01);
}

TEST(RandomNormal, Statistics) {
  auto v = random::normal({100000}, float32, 0, 1, random::key(4)).to_vector<float>();
  Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.015);
  EXPECT_NEAR(m.var, 1.0, 0.02);
  double tail = std::count_if(v.begin(), v.end(), [](float x) { return std::fabs(x) > 1.959964f; }) / 1e5;
  EXPECT_NEAR(tail, 0.05, 0.004);
  for (float x : v) ASSERT_TRUE(std::isfinite(x));
}

TEST(RandomNormal, LocScaleAndDtype) {
  auto a = random::normal({50000}, bfloat16, 3.0f, 0.5f, random::key(5));
  EXPECT_EQ(a.dtype(), bfloat16);
  Moments m = moments(a.to_vector<float>());
  EXPECT_NEAR(m.mean, 3.0, 0.01);
  EXPECT_NEAR(std::sqrt(m.var), 0.5, 0.01);
}

TEST(RandomTruncatedNormal, StaysInsideAndIsSymmetric) {
  auto v = random::truncated_normal(array(-1.5f), array(1.5f), {50000}, float32, random::key(6)).to_vector<float>();
  for (float x : v) ASSERT_TRUE(x >= -1.5f && x <= 1.5f) << x;
  Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.0, 0.015);
  // Variance of N(0,1) truncated to [-1.5, 1.5]: 1 - 2 * 1.5 * phi(1.5) / (2 * Phi(1.5) - 1) = 0.5515.
  EXPECT_NEAR(m.var, 0.5515, 0.01);
  auto one_sided = random::truncated_normal(array(0.0f), array(100.0f), {20000}, float32, random::key(7)).to_vector<float>();
  EXPECT_NEAR(moments(one_sided).mean, std::sqrt(2.0 / M_PI), 0.015);  // half-normal mean
}

TEST(RandomBernoulli, Frequencies) {
  auto b = random::bernoulli(array(0.3f), {100000}, random::key(8));
  EXPECT_EQ(b.dtype(), bool_);
  auto v = astype(b, float32).to_vector<float>();
  EXPECT_NEAR(moments(v).mean, 0.3, 0.006);
  auto per_column = astype(random::bernoulli(array({0.0f, 1.0f, 0.5f}), {1000, 3}, random::key(9)), float32);
  auto sums = sum(per_column, 0).to_vector<float>();
  EXPECT_EQ(sums[0], 0.0f);
  EXPECT_EQ(sums[1], 1000.0f);
  EXPECT_NEAR(sums[2], 500.0f, 60.0f);
}

TEST(RandomRandint, RangeAndUniformity) {
  auto r = random::randint(array(-3), array(4), {70000}, int32, random::key(10));
  EXPECT_EQ(r.dtype(), int32);
  auto v = r.to_vector<int32_t>();
  std::vector<int> counts(7, 0);
  for (int x : v) {
    ASSERT_TRUE(x >= -3 && x < 4) << x;
    ++counts[x + 3];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 450);
  EXPECT_EQ(random::randint(array(0), array(100), {3}, int64, random::key(1)).dtype(), int64);
}

TEST(RandomGumbel, Moments) {
  auto v = random::gumbel({100000}, float32, random::key(11)).to_vector<float>();
  Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.5772157, 0.02);           // Euler-Mascheroni constant
  EXPECT_NEAR(m.var, M_PI * M_PI / 6.0, 0.05);
  for (float x : v) ASSERT_TRUE(std::isfinite(x));
}

TEST(RandomCategorical, FrequenciesFollowTheProbabilities) {
  std::vector<float> p = {0.1f, 0.2f, 0.7f};
  array logits = log(array(std::vector<float>(p), {3}));
  auto draws = random::categorical(logits, -1, 30000, random::key(12));
  EXPECT_EQ(draws.shape(), (Shape{30000}));
  EXPECT_EQ(draws.dtype(), uint32);
  std::vector<int> counts(3, 0);
  for (uint32_t d : draws.to_vector<uint32_t>()) ++counts.at(d);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(counts[i] / 30000.0, p[i], 0.012) << i;
}

TEST(RandomCategorical, AxisShapesAndMaskedLogits) {
  float inf = std::numeric_limits<float>::infinity();
  // Distributions along axis 0: column 0 can only pick row 1, column 1 only row 2.
  array logits = array(std::vector<float>{-inf, -inf, 0.0f, -inf, -inf, 0.0f}, {3, 2});
  array one = random::categorical(logits, 0, std::nullopt, random::key(13));
  EXPECT_EQ(one.shape(), (Shape{2}));
  EXPECT_EQ(one.to_vector<uint32_t>(), (std::vector<uint32_t>{1u, 2u}));
  array many = random::categorical(logits, 0, 5, random::key(14));
  EXPECT_EQ(many.shape(), (Shape{2, 5}));
  EXPECT_EQ(many.to_vector<uint32_t>(), (std::vector<uint32_t>{1, 1, 1, 1, 1, 2, 2, 2, 2, 2}));
  array batch = random::categorical(zeros({4, 10}), -1, std::nullopt, random::key(15));
  EXPECT_EQ(batch.shape(), (Shape{4}));
}

TEST(RandomErrors, BadArgumentsNameTheOp) {
  auto expect_invalid = [](auto fn, const std::string& fragment) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected " << fragment;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(fragment));
    }
  };
  expect_invalid([] { random::uniform({2}, float32, array({1.0f, 2.0f})); }, "[random::uniform] Expected a key");
  expect_invalid([] { random::normal({2}, float32, 0, 1, array(std::vector<uint32_t>{1, 2, 3}, {3}, uint32)); },
                 "[random::normal] Expected a key");
  expect_invalid([] { random::uniform({-1}); }, "[random::uniform] Negative dimension");
  expect_invalid([] { random::uniform({2}, int32); }, "[random::uniform] dtype");
  expect_invalid([] { random::uniform(zeros({3}), ones({3}), {2}); }, "[random::uniform] Bound of shape");
  expect_invalid([] { random::randint(array(0), array(5), {2}, float32); }, "[random::randint] dtype");
  expect_invalid([] { random::bernoulli(array(1), {2}); }, "[random::bernoulli] p must be");
  expect_invalid([] { random::bernoulli(array({0.5f, 0.5f}), {3}); }, "[random::bernoulli] p of shape");
  expect_invalid([] { random::categorical(zeros({3}), -1, 0); }, "[random::categorical] num_samples");
  expect_invalid([] { random::split(random::key(1), 0); }, "[random::split] num");
  EXPECT_THROW(random::categorical(zeros({3}), 2), std::out_of_range);
}

}  // namespace
}  // namespace tessera
