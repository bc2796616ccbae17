// Optimizers, gradient clipping and schedules against steps computed by hand (MLX semantics).
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/nn/layers.h"
#include "tessera/ops.h"
#include "tessera/optim/optimizers.h"

namespace tessera::optim {
namespace {

float one_step(Optimizer& opt, Tree& params, float grad) {
  params = opt.apply_gradients({{"w", array({grad})}}, params);
  return params.at("w").to_vector<float>()[0];
}

TEST(SGD, PlainStep) {
  SGD opt(0.1f);
  Tree p{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(opt, p, 0.5f), 0.95f, 1e-7);
}

TEST(SGD, MomentumWithWeightDecay) {
  SGD opt(0.1f, {.momentum = 0.9f, .weight_decay = 0.1f});
  Tree p{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(opt, p, 0.5f), 0.94f, 1e-6);   // g = 0.6, v = 0.6
  EXPECT_NEAR(one_step(opt, p, 0.5f), 0.8266f, 1e-6);  // g = 0.594, v = 0.54 + 0.594
  EXPECT_EQ(opt.step(), 2);
}

TEST(SGD, NesterovAndDampening) {
  SGD nesterov(0.1f, {.momentum = 0.9f, .nesterov = true});
  Tree p{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(nesterov, p, 0.6f), 1.0f - 0.1f * (0.6f + 0.9f * 0.6f), 1e-6);
  SGD damped(0.1f, {.momentum = 0.9f, .dampening = 0.5f});
  Tree q{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(damped, q, 0.5f), 1.0f - 0.1f * 0.25f, 1e-6);
  EXPECT_NEAR(one_step(damped, q, 0.5f), 0.975f - 0.1f * (0.9f * 0.25f + 0.25f), 1e-6);
  EXPECT_THROW(SGD(0.1f, {.nesterov = true}), std::invalid_argument);
}

TEST(Adam, DefaultsHaveNoBiasCorrection) {
  Adam opt(0.1f);
  Tree p{{"w", array({1.0f})}};
  // m = 0.05, v = 0.00025: 1 - 0.1 * 0.05 / (sqrt(0.00025) + 1e-8)
  EXPECT_NEAR(one_step(opt, p, 0.5f), 1.0f - 0.1f * 0.05f / (std::sqrt(0.00025f) + 1e-8f), 1e-5);
}

TEST(Adam, BiasCorrection) {
  Adam opt(0.1f, {.bias_correction = true});
  Tree p{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(opt, p, 0.5f), 0.9f, 1e-5);  // first corrected step moves by lr * sign(g)
  // step 2, g = 0.5: m = 0.095, v = 0.00049975; c1 = 0.1 / 0.19, c2 = 1 / sqrt(1 - 0.999^2)
  const double c1 = 0.1 / (1 - 0.81);
  const double c2 = 1 / std::sqrt(1 - 0.999 * 0.999);
  EXPECT_NEAR(one_step(opt, p, 0.5f), 0.9 - c1 * 0.095 / (std::sqrt(0.00049975) * c2 + 1e-8), 1e-5);
}

TEST(AdamW, DecoupledWeightDecayDefault) {
  AdamW opt(0.1f);
  Tree p{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(opt, p, 0.5f), 1.0f * (1 - 0.1f * 0.01f) - 0.1f * 0.05f / (std::sqrt(0.00025f) + 1e-8f),
              1e-5);
}

TEST(Adafactor, VectorStep) {
  Adafactor opt;
  Tree p{{"w", array({1.0f})}};
  // beta2 = 0 at step 1: the update is sign(g), scaled by rms(p) * min(1e-2, 1) = 0.01
  EXPECT_NEAR(one_step(opt, p, 0.5f), 0.99f, 1e-6);
}

TEST(Adafactor, FactoredMatrixStep) {
  Adafactor opt;
  Tree p{{"w", ones({2, 2})}};
  p = opt.apply_gradients({{"w", reshape(array({1.0f, 2.0f, 3.0f, 4.0f}), {2, 2})}}, p);
  // rows: mean g^2 = 2.5, 12.5 (mean 7.5); columns: 5, 10
  const double g[4] = {1, 2, 3, 4};
  const double r[2] = {1 / std::sqrt(2.5 / 7.5), 1 / std::sqrt(12.5 / 7.5)};
  const double c[2] = {1 / std::sqrt(5.0), 1 / std::sqrt(10.0)};
  auto w = p.at("w").to_vector<float>();
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) EXPECT_NEAR(w[i * 2 + j], 1.0 - 0.01 * r[i] * c[j] * g[i * 2 + j], 1e-6);
  }
  AdafactorOptions plain;
  plain.scale_parameter = false;
  plain.relative_step = false;
  Adafactor fixed(0.1f, plain);
  Tree q{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(fixed, q, 0.5f), 0.9f, 1e-6);
}

TEST(Optimizer, ScheduleAndStateRoundTrip) {
  SGD opt(linear_schedule(1.0f, 0.0f, 2), {.momentum = 0.5f});
  EXPECT_FLOAT_EQ(opt.learning_rate(), 1.0f);
  Tree p{{"w", array({1.0f})}};
  EXPECT_NEAR(one_step(opt, p, 1.0f), 0.0f, 1e-7);  // lr(0) = 1, v = 1
  EXPECT_FLOAT_EQ(opt.learning_rate(), 0.5f);
  SGD resumed(linear_schedule(1.0f, 0.0f, 2), {.momentum = 0.5f});
  resumed.set_state(opt.state());
  Tree q = p;
  EXPECT_NEAR(one_step(opt, p, 1.0f), -0.75f, 1e-7);  // v = 1.5, lr 0.5
  EXPECT_NEAR(one_step(resumed, q, 1.0f), -0.75f, 1e-7);
  EXPECT_THROW(opt.apply_gradients({{"x", array({1.0f})}}, p), std::invalid_argument);
}

TEST(Optimizer, UpdatesOnlyTrainableParametersOfAModule) {
  nn::Linear layer(2, 1, true);
  layer.freeze({"bias"}, false);
  array bias = layer.parameter("bias");
  array weight = layer.weight();
  SGD opt(1.0f);
  opt.update(layer, {{"weight", ones({1, 2})}});
  auto w0 = weight.to_vector<float>();
  auto w1 = layer.weight().to_vector<float>();
  EXPECT_NEAR(w1[0], w0[0] - 1.0f, 1e-6);
  EXPECT_EQ(layer.parameter("bias").to_vector<float>(), bias.to_vector<float>());
}

TEST(ClipGradNorm, ScalesOnlyAboveTheLimit) {
  Tree g{{"a", array({3.0f})}, {"b", array({4.0f})}};
  auto [clipped, norm] = clip_grad_norm(g, 1.0f);
  EXPECT_NEAR(norm.item<float>(), 5.0f, 1e-6);
  EXPECT_NEAR(clipped.at("a").to_vector<float>()[0], 3.0f / 5.0f, 1e-6);
  EXPECT_NEAR(clipped.at("b").to_vector<float>()[0], 4.0f / 5.0f, 1e-6);
  auto [kept, norm2] = clip_grad_norm(g, 10.0f);
  EXPECT_FLOAT_EQ(kept.at("a").to_vector<float>()[0], 3.0f);
}

TEST(Schedules, ValuesAtSteps) {
  EXPECT_NEAR(exponential_decay(1.0f, 0.5f)(3), 0.125f, 1e-7);
  EXPECT_NEAR(step_decay(1.0f, 0.5f, 3)(7), 0.25f, 1e-7);
  EXPECT_NEAR(step_decay(1.0f, 0.5f, 3)(2), 1.0f, 1e-7);
  EXPECT_NEAR(cosine_decay(1.0f, 10, 0.1f)(5), 0.55f, 1e-6);
  EXPECT_NEAR(cosine_decay(1.0f, 10, 0.1f)(20), 0.1f, 1e-6);
  EXPECT_NEAR(cosine_decay(1.0f, 10)(0), 1.0f, 1e-7);
  EXPECT_NEAR(linear_schedule(0.0f, 1.0f, 4)(2), 0.5f, 1e-7);
  EXPECT_NEAR(linear_schedule(0.0f, 1.0f, 4)(10), 1.0f, 1e-7);
  auto joined = join_schedules({linear_schedule(0.0f, 1.0f, 4), exponential_decay(1.0f, 0.5f)}, {4});
  EXPECT_NEAR(joined(3), 0.75f, 1e-7);
  EXPECT_NEAR(joined(5), 0.5f, 1e-7);
  auto warm = with_warmup(linear_schedule(1.0f, 0.0f, 10), 1.0f, 4);
  EXPECT_NEAR(warm(0), 0.0f, 1e-7);
  EXPECT_NEAR(warm(2), 0.5f, 1e-7);
  EXPECT_NEAR(warm(4), 1.0f, 1e-7);
  EXPECT_NEAR(warm(5), 1.0f, 1e-7);
  EXPECT_NEAR(warm(10), 0.5f, 1e-7);
  EXPECT_THROW(cosine_decay(1.0f, 0), std::invalid_argument);
  EXPECT_THROW(join_schedules({exponential_decay(1.0f, 0.5f)}, {3}), std::invalid_argument);
}

}  // namespace
}  // namespace tessera::optim
