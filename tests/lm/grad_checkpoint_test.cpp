// Gradient checkpointing: a LoRA training step through checkpointed decoder layers gives the
// loss and gradients of the plain one, with dropout masks that agree between the forward pass
// and its recomputation, and keeps fewer activations alive.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "tessera/lm/tuner.h"
#include "tessera/memory.h"
#include "tessera/nn/losses.h"
#include "tessera/ops.h"
#include "tessera/random.h"
#include "tessera/transforms.h"

namespace tessera::lm {
namespace {

const char* kDemoModel = "models/stories260K";

// The demo model with LoRA on every linear of every layer, B nonzero so that A has gradients.
LoadedModel lora_model(float dropout) {
  LoadedModel loaded = load(kDemoModel);
  AdapterConfig config;
  config.num_layers = -1;
  config.lora.rank = 4;
  config.lora.dropout = dropout;
  prepare_for_training(*loaded.model, config);
  nn::ParameterMap params = loaded.model->trainable_parameters();
  array key = random::key(7);
  for (auto& [name, p] : params) {
    if (name.ends_with("lora_b")) {
      key = random::split(key)[0];
      p = random::normal(p.shape(), p.dtype(), 0.0f, 0.01f, key);
    }
  }
  loaded.model->update(params);
  return loaded;
}

Batch random_batch(int batch_size, int length, int vocab) {
  array tokens = random::randint(array(1), array(vocab), {batch_size, length}, int32, random::key(3));
  array mask = astype(greater(random::uniform({batch_size, length}, float32, random::key(4)), array(0.2f)), float32);
  tokens.eval();
  mask.eval();
  return {tokens, mask, 0};
}

std::pair<array, ParamMap> loss_and_grad(Model& model, const Batch& batch, bool checkpoint) {
  const int64_t B = batch.tokens.shape(0);
  const int64_t L = batch.tokens.shape(1);
  auto fn = value_and_grad([&](const ParamMap& params) {
    model.update(params);
    return nn::lm_loss(model(slice(batch.tokens, {0, 0}, {B, L - 1})), batch.tokens, batch.mask).first;
  });
  ParamMap params = model.trainable_parameters();
  model.set_grad_checkpoint(checkpoint);
  auto result = fn(params);
  model.set_grad_checkpoint(false);
  model.update(params);
  std::vector<array> outs{result.first};
  for (auto& [name, g] : result.second) outs.push_back(g);
  eval(outs);
  return result;
}

float max_abs(const array& a) { return max(abs(a)).item<float>(); }

TEST(GradCheckpoint, SameLossAndLoraGradientsAsThePlainStep) {
  LoadedModel loaded = lora_model(0.0f);
  Model& model = *loaded.model;
  model.train(true);
  Batch batch = random_batch(2, 33, model.vocab_size());
  auto [plain_loss, plain_grads] = loss_and_grad(model, batch, false);
  auto [ckpt_loss, ckpt_grads] = loss_and_grad(model, batch, true);
  EXPECT_NEAR(ckpt_loss.item<float>(), plain_loss.item<float>(), 1e-5f * std::abs(plain_loss.item<float>()));
  ASSERT_EQ(ckpt_grads.size(), plain_grads.size());
  int lora_tensors = 0;
  for (auto& [name, g] : plain_grads) {
    ASSERT_TRUE(ckpt_grads.count(name)) << name;
    const float scale = max_abs(g);
    EXPECT_GT(scale, 0.0f) << name;
    EXPECT_LE(max_abs(subtract(ckpt_grads.at(name), g)), 1e-5f * scale) << name;
    lora_tensors += name.find(".lora_") != std::string::npos;
  }
  EXPECT_EQ(lora_tensors, static_cast<int>(plain_grads.size()));
  EXPECT_GT(lora_tensors, 0);
}

TEST(GradCheckpoint, DropoutMasksAgreeBetweenForwardAndRecomputation) {
  // With dropout the masks come from the random state; a gradient computed with other masks in
  // the recomputation would disagree with the finite difference of the loss along it.
  LoadedModel loaded = lora_model(0.5f);
  Model& model = *loaded.model;
  model.train(true);
  Batch batch = random_batch(2, 17, model.vocab_size());
  const int64_t B = batch.tokens.shape(0);
  const int64_t L = batch.tokens.shape(1);
  const ParamMap base = model.trainable_parameters();
  auto loss_at = [&](float t, const ParamMap& direction) {
    ParamMap moved;
    for (auto& [name, p] : base) moved.emplace(name, add(p, multiply(direction.at(name), array(t))));
    model.update(moved);
    random::seed(11);
    model.set_grad_checkpoint(true);
    const double loss =
        nn::lm_loss(model(slice(batch.tokens, {0, 0}, {B, L - 1})), batch.tokens, batch.mask).first.item<float>();
    model.set_grad_checkpoint(false);
    model.update(base);
    return loss;
  };
  random::seed(11);
  auto [loss, grads] = loss_and_grad(model, batch, true);
  EXPECT_NEAR(loss_at(0.0f, grads), loss.item<float>(), 1e-6);
  double g_dot_g = 0;
  for (auto& [name, g] : grads) g_dot_g += sum(multiply(g, g)).item<float>();
  // A step that changes the loss by about 1e-2: small against its curvature, large against rounding.
  const float eps = static_cast<float>(1e-2 / g_dot_g);
  const double directional = (loss_at(eps, grads) - loss_at(-eps, grads)) / (2 * eps);
  EXPECT_NEAR(directional, g_dot_g, 2e-2 * g_dot_g);
}

TEST(GradCheckpoint, LowersPeakMemoryOfATrainingStep) {
  LoadedModel loaded = lora_model(0.0f);
  Model& model = *loaded.model;
  model.train(true);
  // Many short rows: the layers' kept activations, not one layer's attention, dominate the peak.
  Batch batch = random_batch(32, 33, model.vocab_size());
  auto peak = [&](bool checkpoint) {
    reset_peak_memory();
    loss_and_grad(model, batch, checkpoint);
    return get_peak_memory();
  };
  const size_t plain = peak(false);
  const size_t checkpointed = peak(true);
  std::printf("peak memory of a LoRA step on [32, 32] tokens: plain %.2f MB, checkpointed %.2f MB\n", plain / 1e6,
              checkpointed / 1e6);
  // Only the layer outputs and one layer's recomputation stay alive (about 0.3x; 0.8x when the
  // recomputations of all layers were evaluated before the backward pass reached them).
  EXPECT_LT(checkpointed, plain / 2);
}

}  // namespace
}  // namespace tessera::lm
