// A Llama of a real head size with random weights, for tests of the kernels that only such
// shapes reach (bfloat16 attention, the decode layout of quantized products).
#pragma once

#include <nlohmann/json.hpp>

#include "tessera/lm/model.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace tessera::test {

// Head size 64 with four query heads per key/value head, hidden size 512, in `dtype`, with the
// tokenizer of `base` (vocabulary 512, the demo model's). Its random weights make the logits
// nearly flat, so any difference between two ways of computing them shows in greedy tokens.
inline lm::LoadedModel random_llama(const lm::LoadedModel& base, Dtype dtype) {
  const nlohmann::json config = {
      {"model_type", "llama"},       {"hidden_size", 512},       {"intermediate_size", 1024},
      {"num_attention_heads", 8},    {"num_key_value_heads", 2}, {"num_hidden_layers", 2},
      {"vocab_size", 512},           {"rms_norm_eps", 1e-5},     {"rope_theta", 10000.0},
      {"tie_word_embeddings", false}, {"max_position_embeddings", 256}};
  lm::LoadedModel m = base;
  m.model = lm::make_model(config);
  random::seed(7);
  nn::ParameterMap weights;
  for (auto& [name, p] : m.model->parameters())
    weights.emplace(name, astype(random::normal(p.shape(), float32, 0.0f, 0.02f), dtype));
  m.model->update(weights);
  for (auto& [name, p] : m.model->parameters()) p.eval();
  return m;
}

}  // namespace tessera::test
