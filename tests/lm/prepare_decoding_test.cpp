// Model::prepare_decoding: the decode layouts of a quantized model made on load rather than by
// the first tokens, for every quantized projection and a tied quantized output head.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "backend/cpu/quantized_decode.h"
#include "tessera/lm/model.h"
#include "tessera/memory.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace tessera::lm {
namespace {

// A llama whose every matrix takes the decode layout at group size 32 (16 groups per row).
std::shared_ptr<Model> float_llama(bool tied);

std::shared_ptr<Model> quantized_llama(bool tied) {
  std::shared_ptr<Model> model = float_llama(tied);
  nn::quantize(*model, 32, 4);
  std::vector<array> parameters;
  for (auto& [name, p] : model->parameters()) parameters.push_back(p);
  eval(parameters);
  return model;
}

std::shared_ptr<Model> float_llama(bool tied) {
  const nlohmann::json config = {
      {"model_type", "llama"},         {"hidden_size", 512},         {"intermediate_size", 1024},
      {"num_attention_heads", 8},      {"num_key_value_heads", 2},   {"num_hidden_layers", 2},
      {"vocab_size", 512},             {"rms_norm_eps", 1e-5},       {"rope_theta", 10000.0},
      {"tie_word_embeddings", tied},   {"max_position_embeddings", 128}};
  std::shared_ptr<Model> model = make_model(config);
  random::seed(4);
  nn::ParameterMap weights;
  for (auto& [name, p] : model->parameters()) weights.emplace(name, random::normal(p.shape(), float32, 0.0f, 0.05f));
  model->update(weights);
  std::vector<array> parameters;
  for (auto& [name, p] : model->parameters()) parameters.push_back(p);
  eval(parameters);
  return model;
}

// The bytes of the decode layouts of the model's quantized matrices (with the embedding table
// only when it is the output head).
size_t layout_bytes(const Model& model, bool tied) {
  size_t total = 0;
  for (auto& [name, module] : model.named_modules()) {
    const auto* linear = dynamic_cast<const nn::QuantizedLinear*>(module.get());
    const auto* table = dynamic_cast<const nn::QuantizedEmbedding*>(module.get());
    if (!linear && !(table && tied)) continue;
    const array& w = module->parameter("weight");
    const cpu::QuantizedMatrix m{nullptr, nullptr, nullptr, cpu::ScaleType::float32, w.shape(0),
                                 w.shape(1) * 32 / 4, 32, 4};
    EXPECT_TRUE(cpu::qdecode::supports(m)) << name;
    total += cpu::qdecode::layout_bytes(m);
  }
  return total;
}

TEST(PrepareDecoding, MakesEveryLayoutOnceAndTheFirstTokenNone) {
  const cpu::QuantizedMatrix probe{nullptr, nullptr, nullptr, cpu::ScaleType::float32, 2, 512, 32, 4};
  if (!cpu::qdecode::supports(probe)) GTEST_SKIP() << "the decode layout needs AVX-512 VNNI";
  for (bool tied : {false, true}) {
    std::shared_ptr<Model> model = quantized_llama(tied);
    const size_t expected = layout_bytes(*model, tied);
    const size_t before = get_active_memory();
    model->prepare_decoding();
    const size_t prepared = get_active_memory();
    EXPECT_GE(prepared, before + expected) << "tied " << tied;
    EXPECT_LE(prepared, before + expected + expected / 8) << "tied " << tied;
    model->prepare_decoding();  // already made
    EXPECT_EQ(get_active_memory(), prepared) << "tied " << tied;
    {
      Cache cache = model->make_cache();
      array logits = (*model)(reshape(array({7}), {1, 1}), &cache);
      eval(logits);
      EXPECT_TRUE(all(isfinite(logits)).item<bool>());
    }
    EXPECT_LE(get_active_memory(), prepared) << "the first token made a layout, tied " << tied;
  }
}

// Float weights stay where they are (mapped, for a loaded model).
TEST(PrepareDecoding, LeavesFloatWeightsInPlace) {
  std::shared_ptr<Model> model = float_llama(/*tied=*/true);
  std::map<std::string, const void*> before;
  for (auto& [name, p] : model->parameters()) before[name] = p.data<void>();
  model->prepare_decoding();
  for (auto& [name, p] : model->parameters()) EXPECT_EQ(p.data<void>(), before[name]) << name;
}

}  // namespace
}  // namespace tessera::lm
