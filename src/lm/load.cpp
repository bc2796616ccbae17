// Loading a Hugging Face model folder.
#include "tessera/io.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/model.h"
#include "tessera/lm/quantize.h"
#include "tessera/lm/tokenizer.h"
#include "tessera/lm/tuner.h"
#include "tessera/ops.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tessera::lm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error(file.string() + ": cannot be read");
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw std::runtime_error(file.string() + ": malformed JSON (" + e.what() + ")");
  }
}

// Adds every tensor of one safetensors file; a name seen in an earlier file is an error.
void add_tensors(const fs::path& file, nn::ParameterMap& weights) {
  SafetensorsFile contents = load_safetensors(file.string());
  for (auto& [name, tensor] : contents.tensors) {
    if (!weights.emplace(name, tensor).second) {
      throw std::runtime_error(file.string() + ": tensor '" + name + "' also appears in another weights file");
    }
  }
}

// model.safetensors, or the shards listed by model.safetensors.index.json, or model*.safetensors.
nn::ParameterMap read_weights(const fs::path& dir) {
  nn::ParameterMap weights;
  const fs::path index_file = dir / "model.safetensors.index.json";
  if (fs::exists(index_file)) {
    const json index = read_json(index_file);
    if (!index.contains("weight_map") || !index.at("weight_map").is_object()) {
      throw std::runtime_error(index_file.string() + ": missing the object 'weight_map'");
    }
    std::set<std::string> shards;
    for (const auto& [name, shard] : index.at("weight_map").items()) {
      if (!shard.is_string()) {
        throw std::runtime_error(index_file.string() + ": the shard of tensor '" + name + "' is not a file name");
      }
      shards.insert(shard.get<std::string>());
    }
    for (const auto& shard : shards) {
      const fs::path file = dir / shard;
      if (!fs::exists(file)) {
        throw std::runtime_error(file.string() + ": weights shard listed in model.safetensors.index.json not found");
      }
      add_tensors(file, weights);
    }
    for (const auto& [name, shard] : index.at("weight_map").items()) {
      if (!weights.count(name)) {
        throw std::runtime_error((dir / shard.get<std::string>()).string() + ": tensor '" + name +
                                 "' listed in model.safetensors.index.json is missing");
      }
    }
    return weights;
  }
  if (fs::exists(dir / "model.safetensors")) {
    add_tensors(dir / "model.safetensors", weights);
    return weights;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("model") && name.ends_with(".safetensors")) {
      files.push_back(entry.path());
    }
  }
  if (files.empty()) {
    throw std::runtime_error(dir.string() + ": no model weights (model.safetensors or model.safetensors.index.json)");
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    add_tensors(file, weights);
  }
  return weights;
}

// An id or a list of ids (eos_token_id may be either); null or absent gives none.
std::vector<int> token_ids(const json& config, const std::string& key, const fs::path& file) {
  if (!config.contains(key) || config.at(key).is_null()) {
    return {};
  }
  const json& v = config.at(key);
  if (v.is_number_integer()) {
    return {v.get<int>()};
  }
  std::vector<int> ids;
  if (v.is_array()) {
    for (const auto& id : v) {
      if (!id.is_number_integer()) {
        throw std::runtime_error(file.string() + ": '" + key + "' must be an integer or a list of integers");
      }
      ids.push_back(id.get<int>());
    }
    return ids;
  }
  throw std::runtime_error(file.string() + ": '" + key + "' must be an integer or a list of integers");
}

GenerationConfig read_generation_config(const fs::path& dir, const json& config, const Tokenizer* tokenizer) {
  GenerationConfig out;
  const fs::path file = dir / "generation_config.json";
  if (fs::exists(file)) {
    const json generation = read_json(file);
    out.eos_token_ids = token_ids(generation, "eos_token_id", file);
    if (auto bos = token_ids(generation, "bos_token_id", file); !bos.empty()) {
      out.bos_token_id = bos[0];
    }
  }
  const fs::path config_file = dir / "config.json";
  if (out.eos_token_ids.empty()) {
    out.eos_token_ids = token_ids(config, "eos_token_id", config_file);
  }
  if (!out.bos_token_id) {
    if (auto bos = token_ids(config, "bos_token_id", config_file); !bos.empty()) {
      out.bos_token_id = bos[0];
    }
  }
  if (out.eos_token_ids.empty() && tokenizer) {
    out.eos_token_ids = tokenizer->eos_token_ids();
  }
  if (!out.bos_token_id && tokenizer) {
    out.bos_token_id = tokenizer->bos_token_id();
  }
  return out;
}

bool has_tokenizer(const fs::path& dir) {
  return fs::exists(dir / "tokenizer.json") || fs::exists(dir / "tokenizer.json.gz") ||
         fs::exists(dir / "tokenizer.model");
}

}  // namespace

LoadedModel load(const std::string& path, const LoadOptions& options) {
  const fs::path dir(path);
  if (!fs::is_directory(dir)) {
    throw std::runtime_error(path + ": model folder not found");
  }
  const fs::path config_file = dir / "config.json";
  if (!fs::exists(config_file)) {
    throw std::runtime_error(config_file.string() + ": not found");
  }
  LoadedModel loaded;
  loaded.path = path;
  loaded.config = read_json(config_file);
  loaded.model = make_model(loaded.config, config_file.string());

  nn::ParameterMap weights = loaded.model->sanitize(read_weights(dir));
  // Layers stored quantized (`<path>.scales` present) become quantized layers before loading.
  prepare_quantized_load(*loaded.model, loaded.config, weights, config_file.string());
  if (options.dtype) {
    for (auto& [name, w] : weights) {
      if (is_floating_point(w.dtype()) && w.dtype() != *options.dtype) {
        w = astype(w, *options.dtype);
      }
    }
  }
  try {
    loaded.model->load_weights(weights, /*strict=*/true);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  // Stacked experts and cast weights are computed once here, not on the first forward pass.
  std::vector<array> parameters;
  for (auto& [name, w] : loaded.model->parameters()) {
    parameters.push_back(w);
  }
  eval(parameters);
  if (!options.adapter_path.empty()) {
    apply_adapters(*loaded.model, options.adapter_path);
  }
  if (options.prepare_decoding) loaded.model->prepare_decoding();
  if (options.int8_activations && loaded.model->set_int8_activations(true) == 0) {
    throw std::invalid_argument(path + ": int8 activations need a quantized model, and this one has no quantized "
                                "layers.");
  }

  if (has_tokenizer(dir)) {
    loaded.tokenizer = std::make_shared<Tokenizer>(Tokenizer::from_folder(path));
  }
  loaded.chat_template = std::make_shared<ChatTemplate>(ChatTemplate::from_folder(path));
  loaded.generation_config = read_generation_config(dir, loaded.config, loaded.tokenizer.get());
  return loaded;
}

}  // namespace tessera::lm
