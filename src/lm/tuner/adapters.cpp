// Adapter configuration and weights on disk (mlx-lm's adapter_config.json and adapters.safetensors).
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tessera/io.h"
#include "tessera/lm/tuner.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace fs = std::filesystem;

nlohmann::json AdapterConfig::to_json() const {
  nlohmann::json lora_parameters = {{"rank", lora.rank}, {"scale", lora.scale}, {"dropout", lora.dropout}};
  if (!lora.keys.empty()) lora_parameters["keys"] = lora.keys;
  return {{"fine_tune_type", fine_tune_type}, {"num_layers", num_layers}, {"lora_parameters", lora_parameters}};
}

AdapterConfig AdapterConfig::from_json(const nlohmann::json& j, const std::string& source) {
  AdapterConfig c;
  try {
    c.fine_tune_type = j.value("fine_tune_type", c.fine_tune_type);
    c.num_layers = j.value("num_layers", c.num_layers);
    if (j.contains("lora_parameters")) {
      const auto& p = j.at("lora_parameters");
      c.lora.rank = p.value("rank", c.lora.rank);
      c.lora.scale = p.value("scale", c.lora.scale);
      c.lora.dropout = p.value("dropout", c.lora.dropout);
      if (p.contains("keys") && !p.at("keys").is_null()) c.lora.keys = p.at("keys").get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(source + ": " + e.what());
  }
  if (c.fine_tune_type != "lora" && c.fine_tune_type != "dora" && c.fine_tune_type != "full") {
    throw std::runtime_error(source + ": fine_tune_type must be lora, dora or full, got '" + c.fine_tune_type + "'");
  }
  return c;
}

void prepare_for_training(Model& model, const AdapterConfig& config) {
  if (config.fine_tune_type == "full") {
    nn::unfreeze_last_layers(model, config.num_layers);
  } else {
    nn::linear_to_lora_layers(model, config.num_layers, config.lora, config.fine_tune_type == "dora");
  }
}

void save_adapter_weights(const Model& model, const std::string& file) {
  auto params = model.trainable_parameters();
  std::unordered_map<std::string, array> tensors(params.begin(), params.end());
  std::vector<array> values;
  for (auto& [name, value] : tensors) values.push_back(value);
  eval(values);
  const fs::path parent = fs::path(file).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  save_safetensors(file, tensors);
}

void load_adapter_weights(Model& model, const std::string& file) {
  auto weights = load_safetensors(file).tensors;
  auto trainable = model.trainable_parameters();
  nn::ParameterMap update;
  for (auto& [name, value] : weights) {
    auto it = trainable.find(name);
    if (it == trainable.end()) {
      throw std::runtime_error(file + ": tensor '" + name + "' is not an adapter parameter of this model");
    }
    if (it->second.shape() != value.shape()) {
      auto shape = [](const Shape& s) {
        std::string out = "[";
        for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
        return out + "]";
      };
      throw std::runtime_error(file + ": tensor '" + name + "' has shape " + shape(value.shape()) +
                               " but the model expects " + shape(it->second.shape()) +
                               " (an adapter made for another model?)");
    }
    update.emplace(name, astype(value, it->second.dtype()));
  }
  model.update(update);
}

void save_adapter_config(const std::string& dir, const AdapterConfig& config) {
  fs::create_directories(dir);
  const fs::path file = fs::path(dir) / "adapter_config.json";
  const fs::path tmp = fs::path(dir) / "adapter_config.json.tmp";
  {
    std::ofstream out(tmp);
    out << config.to_json().dump(4) << "\n";
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, file);
}

AdapterConfig apply_adapters(Model& model, const std::string& dir) {
  const fs::path config_file = fs::path(dir) / "adapter_config.json";
  const fs::path weights_file = fs::path(dir) / "adapters.safetensors";
  std::ifstream in(config_file);
  if (!in) throw std::runtime_error(config_file.string() + ": no adapter config in the adapter folder");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(config_file.string() + ": " + e.what());
  }
  AdapterConfig config = AdapterConfig::from_json(j, config_file.string());
  if (!fs::exists(weights_file)) throw std::runtime_error(weights_file.string() + ": no adapter weights");
  prepare_for_training(model, config);
  load_adapter_weights(model, weights_file.string());
  model.freeze();
  return config;
}

}  // namespace tessera::lm
