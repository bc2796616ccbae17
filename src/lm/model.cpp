#include "tessera/lm/model.h"

#include "lm/models/architectures.h"
#include "tessera/nn/quantized.h"

#include <stdexcept>

namespace tessera::lm {

const std::map<std::string, ModelFactory>& model_factories() {
  static const std::map<std::string, ModelFactory> factories = {
      {"gemma", make_gemma},     {"gemma2", make_gemma2}, {"gemma3_text", make_gemma3_text},
      {"llama", make_llama},     {"mistral", make_mistral}, {"mixtral", make_mixtral},
      {"phi3", make_phi3},       {"qwen2", make_qwen2},   {"qwen3", make_qwen3},
      {"qwen3_moe", make_qwen3_moe},
  };
  return factories;
}

std::vector<std::string> supported_model_types() {
  std::vector<std::string> types;
  for (const auto& [name, factory] : model_factories()) {
    types.push_back(name);
  }
  return types;
}

std::shared_ptr<Model> make_model(const nlohmann::json& config, const std::string& source) {
  ConfigReader reader(config, source);
  const std::string type = reader.get_string("model_type");
  const auto& factories = model_factories();
  auto it = factories.find(type);
  if (it == factories.end()) {
    std::string list;
    for (const auto& name : supported_model_types()) {
      list += (list.empty() ? "" : ", ") + name;
    }
    reader.fail("unsupported model_type '" + type + "' (supported: " + list + ")");
  }
  return it->second(reader);
}

Cache Model::make_cache(std::optional<int> max_kv_size) const {
  Cache cache;
  for (int i = 0; i < num_layers(); ++i) {
    if (max_kv_size) {
      cache.push_back(std::make_shared<RotatingKVCache>(*max_kv_size, 4));
    } else {
      cache.push_back(std::make_shared<StandardKVCache>());
    }
  }
  return cache;
}

nn::ParameterMap Model::sanitize(nn::ParameterMap weights) const {
  // Rotary frequency buffers are recomputed from the config, never loaded.
  std::erase_if(weights, [](const auto& item) { return item.first.ends_with("rotary_emb.inv_freq"); });
  return weights;
}

void Model::prepare_decoding() { prepare_quantized_matmul(decoding_matrices()); }

int Model::set_int8_activations(bool on) {
  int layers = 0;
  for (auto& [name, module] : named_modules()) {
    if (auto* linear = dynamic_cast<nn::QuantizedLinear*>(module.get())) {
      linear->set_int8_activations(on);
      ++layers;
    } else if (auto* table = dynamic_cast<nn::QuantizedEmbedding*>(module.get())) {
      table->set_int8_activations(on);
      ++layers;
    }
  }
  return layers;
}

std::vector<PackedMatrix> Model::decoding_matrices() {
  std::vector<PackedMatrix> matrices;
  for (auto& [name, module] : named_modules()) {
    if (auto* linear = dynamic_cast<nn::QuantizedLinear*>(module.get())) matrices.push_back(linear->packed_matrix());
  }
  return matrices;
}

}  // namespace tessera::lm
