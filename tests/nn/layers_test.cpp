#include "tessera/nn/activations.h"
#include "tessera/nn/layers.h"
#include "tessera/ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace tx = tessera;
namespace nn = tessera::nn;
using ::testing::HasSubstr;

namespace {

void expect_near(tx::array a, const std::vector<float>& expected, float tol = 1e-5f) {
  std::vector<float> got = a.to_vector<float>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
  }
}

TEST(Linear, ComputesXWTransposedPlusBias) {
  nn::Linear linear(2, 3, true);
  linear.update({{"weight", tx::array(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2})},
                 {"bias", tx::array({0.5f, -1.0f, 0.0f})}});
  expect_near(linear(tx::array(std::vector<float>{1, 1, 2, -1}, {2, 2})), {3.5f, 6.0f, 11.0f, 0.5f, 1.0f, 4.0f});
  nn::Linear no_bias(2, 3, false);
  EXPECT_FALSE(no_bias.has_bias());
  EXPECT_EQ(no_bias.parameters().size(), 1u);
}

TEST(Linear, KeepsBfloat16Weights) {
  nn::Linear linear(2, 2, false);
  linear.update({{"weight", tx::astype(tx::eye(2), tx::bfloat16)}});
  tx::array y = linear(tx::astype(tx::array(std::vector<float>{1.5f, -2.0f}, {1, 2}), tx::bfloat16));
  EXPECT_EQ(y.dtype(), tx::bfloat16);
  expect_near(y, {1.5f, -2.0f});
}

TEST(Embedding, LooksUpRowsAndActsAsTiedHead) {
  nn::Embedding embedding(3, 2);
  embedding.update({{"weight", tx::array(std::vector<float>{1, 0, 0, 1, 2, 3}, {3, 2})}});
  expect_near(embedding(tx::array(std::vector<int>{2, 0}, {1, 2}, tx::int32)), {2, 3, 1, 0});
  expect_near(embedding.as_linear(tx::array(std::vector<float>{1, 2}, {1, 2})), {1, 2, 8});
}

TEST(RMSNorm, ScalesByWeightOrOnePlusWeight) {
  tx::array x = tx::array(std::vector<float>{3, 4}, {1, 2});
  const float inv_rms = 1.0f / std::sqrt((9.0f + 16.0f) / 2.0f + 1e-5f);
  nn::RMSNorm plain(2, 1e-5f);
  plain.update({{"weight", tx::array({2.0f, 0.5f})}});
  expect_near(plain(x), {3 * inv_rms * 2.0f, 4 * inv_rms * 0.5f});
  nn::RMSNorm gemma(2, 1e-5f, /*unit_offset=*/true);
  expect_near(gemma(x), {3 * inv_rms, 4 * inv_rms});  // weight starts at 0: scale 1
  gemma.update({{"weight", tx::array({2.0f, 0.5f})}});
  expect_near(gemma(x), {3 * inv_rms * 3.0f, 4 * inv_rms * 1.5f});
}

TEST(LayerNorm, NormalizesMeanAndVariance) {
  nn::LayerNorm norm(2, 0.0f);
  expect_near(norm(tx::array(std::vector<float>{1, 3}, {1, 2})), {-1, 1});
}

TEST(RoPE, FrequencyTableMatchesBase) {
  tx::array x = tx::reshape(tx::arange(0.0, 32.0, 1.0), {1, 1, 4, 8});
  nn::RoPE by_base(8, false, 10000.0f);
  std::vector<float> freqs;
  for (int i = 0; i < 4; ++i) {
    freqs.push_back(std::pow(10000.0f, 2.0f * i / 8.0f));
  }
  nn::RoPE by_table(8, false, 10000.0f, 1.0f, tx::array(freqs, {4}));
  EXPECT_TRUE(tx::allclose(by_base(x, 3), by_table(x, 3), 1e-5, 1e-5));
  // Position 0 is the identity.
  EXPECT_TRUE(tx::allclose(by_base(tx::slice(x, {0, 0, 0, 0}, {1, 1, 1, 8}), 0),
                           tx::slice(x, {0, 0, 0, 0}, {1, 1, 1, 8})));
  EXPECT_THROW(nn::RoPE(8, false, 10000.0f, 1.0f, tx::array({1.0f, 2.0f})), std::invalid_argument);
}

TEST(Linear, InitializesUniformlyWithinInverseSqrtFanIn) {
  nn::Linear linear(16, 64, true);
  std::vector<float> w = linear.weight().to_vector<float>();
  const float bound = 0.25f;
  float lo = 1, hi = -1;
  for (float v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -bound / 2);
  EXPECT_GT(hi, bound / 2);
}

TEST(Dropout, ZeroesAndRescalesOnlyInTraining) {
  nn::Dropout dropout(0.25f);
  tx::array x = tx::ones({4000});
  EXPECT_EQ(dropout(x).to_vector<float>(), x.to_vector<float>());
  dropout.train();
  std::vector<float> y = dropout(x).to_vector<float>();
  int zeros = 0;
  for (float v : y) {
    if (v == 0.0f) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 1.0f / 0.75f);
    }
  }
  EXPECT_NEAR(zeros / 4000.0, 0.25, 0.04);
  EXPECT_THROW(nn::Dropout(1.0f), std::invalid_argument);
}

TEST(Activations, MatchTheirFormulas) {
  const std::vector<float> xs = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f};
  tx::array x(xs, {5});
  std::vector<float> silu, gelu, tanh_gelu;
  for (float v : xs) {
    silu.push_back(v / (1.0f + std::exp(-v)));
    gelu.push_back(0.5f * v * (1.0f + std::erf(v / std::sqrt(2.0f))));
    tanh_gelu.push_back(0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v))));
  }
  expect_near(nn::silu(x), silu);
  expect_near(nn::gelu(x), gelu);
  expect_near(nn::gelu_approx(x), tanh_gelu);
  expect_near(nn::activation_from_name("gelu_pytorch_tanh")(x), tanh_gelu);
  tx::array half = nn::gelu_approx(tx::astype(x, tx::bfloat16));
  EXPECT_EQ(half.dtype(), tx::bfloat16);
  expect_near(half, tanh_gelu, 2e-2f);
}

TEST(Activations, UnknownNameListsTheKnownOnes) {
  try {
    nn::activation_from_name("mish");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'mish'"));
    EXPECT_THAT(e.what(), HasSubstr("gelu_pytorch_tanh"));
  }
}

}  // namespace
