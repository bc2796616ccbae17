// Losses against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/nn/losses.h"
#include "tessera/ops.h"
#include "tessera/transforms.h"

namespace tessera::nn {
namespace {

const double kLse123 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));

TEST(CrossEntropy, PerElementAndReductions) {
  array logits = reshape(array({1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f}), {2, 3});
  array targets = array({2, 0});
  auto loss = cross_entropy(logits, targets).to_vector<float>();
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_NEAR(loss[0], kLse123 - 3.0, 1e-6);
  EXPECT_NEAR(loss[1], kLse123 - 3.0, 1e-6);
  EXPECT_NEAR(cross_entropy(logits, array({0, 0}), 0.0f, "mean").item<float>(),
              ((kLse123 - 1.0) + (kLse123 - 3.0)) / 2, 1e-6);
  EXPECT_NEAR(cross_entropy(logits, array({0, 0}), 0.0f, "sum").item<float>(), 2 * kLse123 - 4.0, 1e-5);
  EXPECT_THROW(cross_entropy(logits, targets, 0.0f, "max"), std::invalid_argument);
}

TEST(CrossEntropy, LabelSmoothing) {
  array logits = reshape(array({1.0f, 2.0f, 3.0f}), {1, 3});
  // (1 - s) * (lse - x_t) + s * (lse - mean(x))
  float loss = cross_entropy(logits, array({2}), 0.1f).to_vector<float>()[0];
  EXPECT_NEAR(loss, kLse123 - 0.9 * 3.0 - 0.1 * 2.0, 1e-6);
  EXPECT_THROW(cross_entropy(logits, array({2}), 1.0f), std::invalid_argument);
}

TEST(MaskedMean, MeanOverMaskedPositionsAndCount) {
  auto [value, count] = masked_mean(array({1.0f, 2.0f, 3.0f, 4.0f}), array({1, 0, 1, 0}));
  EXPECT_FLOAT_EQ(value.item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(count.item<float>(), 2.0f);
}

TEST(MaskedMean, NothingSelectedIsZeroWithZeroGradient) {
  auto [value, count] = masked_mean(array({1.0f, 2.0f}), array({0, 0}));
  EXPECT_EQ(value.item<float>(), 0.0f);
  EXPECT_EQ(count.item<float>(), 0.0f);
}

TEST(LmLoss, AllMaskedBatchHasZeroLossAndGradient) {
  // e.g. a prompt-only row under --mask-prompt: 0 / 0 would make the loss and every gradient NaN.
  array logits = reshape(array({1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f}), {1, 2, 3});
  array tokens = reshape(array({0, 2, 1}), {1, 3});
  array mask = reshape(array({1, 0, 0}), {1, 3});
  auto [loss, grad] = value_and_grad([&](const array& x) { return lm_loss(x, tokens, mask).first; })(logits);
  EXPECT_EQ(loss.item<float>(), 0.0f);
  EXPECT_EQ(lm_loss(logits, tokens, mask).second.item<float>(), 0.0f);
  for (float g : grad.to_vector<float>()) EXPECT_EQ(g, 0.0f);
}

TEST(LmLoss, ShiftsTargetsAndIgnoresMaskedTokens) {
  // B = 1, T + 1 = 3: logits at 0 predict token 1, logits at 1 predict token 2.
  array logits = reshape(array({1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f}), {1, 2, 3});
  array tokens = reshape(array({0, 2, 1}), {1, 3});
  auto [loss, n] = lm_loss(logits, tokens, reshape(array({0, 1, 1}), {1, 3}));
  EXPECT_NEAR(loss.item<float>(), ((kLse123 - 3.0) + (kLse123 - 2.0)) / 2, 1e-6);
  EXPECT_FLOAT_EQ(n.item<float>(), 2.0f);
  auto [only_second, n2] = lm_loss(logits, tokens, reshape(array({1, 0, 1}), {1, 3}));
  EXPECT_NEAR(only_second.item<float>(), kLse123 - 2.0, 1e-6);
  EXPECT_FLOAT_EQ(n2.item<float>(), 1.0f);
  EXPECT_THROW(lm_loss(logits, reshape(array({0, 2}), {1, 2}), reshape(array({1, 1}), {1, 2})),
               std::invalid_argument);
}

}  // namespace
}  // namespace tessera::nn
