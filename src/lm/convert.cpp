#include "tessera/lm/convert.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tessera/io.h"
#include "tessera/lm/model.h"
#include "tessera/lm/quantize.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Files of a model folder besides config.json and the weights, copied as they are.
constexpr const char* kCopiedFiles[] = {
    "tokenizer.json",        "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "tokenizer.json.gz",     "vocab.json",            "merges.txt",              "added_tokens.json",
    "generation_config.json", "chat_template.jinja",  "chat_template.json"};

void write_json(const fs::path& file, const json& j) {
  std::ofstream out(file, std::ios::binary);
  out << j.dump(4) << "\n";
  if (!out) throw std::runtime_error(file.string() + ": cannot be written");
}

std::optional<Dtype> dtype_from_config(const json& config) {
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (config.contains(key) && config[key].is_string()) {
      const std::string name = config[key];
      if (name == "float16" || name == "bfloat16" || name == "float32") return dtype_from_string(name);
    }
  }
  return std::nullopt;
}

// Groups the sorted tensor names into shards of at most max_bytes (a larger tensor gets its own).
std::vector<std::vector<std::string>> make_shards(const std::map<std::string, array>& params, uint64_t max_bytes) {
  std::vector<std::vector<std::string>> shards(1);
  uint64_t size = 0;
  for (const auto& [name, a] : params) {
    if (!shards.back().empty() && size + a.nbytes() > max_bytes) {
      shards.emplace_back();
      size = 0;
    }
    shards.back().push_back(name);
    size += a.nbytes();
  }
  return shards;
}

std::string shard_name(size_t i, size_t n) {
  if (n == 1) return "model.safetensors";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

void write_model(const ConvertOptions& options, const fs::path& out) {
  const LoadOptions load_options{options.dtype, ""};
  LoadedModel loaded = load(options.hf_path, load_options);
  json config = loaded.config;
  Model& model = *loaded.model;
  const bool source_quantized = read_quantization_config(config, options.hf_path + "/config.json").has_value();

  if (options.quantize) {
    if (source_quantized) {
      throw std::invalid_argument("[convert] " + options.hf_path + " is already quantized; use -d to dequantize it");
    }
    nn::QuantizePredicate predicate;
    if (!options.quant_predicate.empty()) {
      predicate = mixed_quantization_predicate(options.quant_predicate, model, options.q_group_size);
    }
    const QuantizationConfig qc = quantize_model(model, options.q_group_size, options.q_bits, predicate);
    config["quantization"] = qc.to_json();
    config["quantization_config"] = qc.to_json();
  } else if (options.dequantize) {
    if (!source_quantized) {
      throw std::invalid_argument("[convert] " + options.hf_path + " is not quantized; nothing to dequantize");
    }
    dequantize_model(model);
    config.erase("quantization");
    config.erase("quantization_config");
  }

  std::map<std::string, array> params;
  uint64_t total = 0;
  for (auto& [name, a] : model.parameters()) {
    params.emplace(name, a);
    total += a.nbytes();
  }
  const auto shards = make_shards(params, options.max_shard_bytes);
  json weight_map = json::object();
  uint64_t done = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file = shard_name(i, shards.size());
    std::unordered_map<std::string, array> tensors;
    for (const auto& name : shards[i]) {
      tensors.emplace(name, params.at(name));
      weight_map[name] = file;
      done += params.at(name).nbytes();
    }
    save_safetensors((out / file).string(), tensors, {{"format", "mlx"}});
    if (options.progress) options.progress(done, total);
  }
  write_json(out / "model.safetensors.index.json", {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
  write_json(out / "config.json", config);
}

}  // namespace

void convert(const ConvertOptions& options) {
  if (options.quantize && options.dequantize) {
    throw std::invalid_argument("[convert] --quantize and --dequantize cannot be used together");
  }
  if (!options.quant_predicate.empty() && !options.quantize) {
    throw std::invalid_argument("[convert] --quant-predicate needs --quantize");
  }
  if (options.mlx_path.empty()) throw std::invalid_argument("[convert] --mlx-path is required");
  const fs::path out(options.mlx_path);
  if (fs::exists(out)) {
    throw std::invalid_argument("[convert] " + options.mlx_path + " already exists; refusing to overwrite it");
  }
  if (!fs::is_directory(options.hf_path)) {
    throw std::invalid_argument("[convert] " + options.hf_path + ": model folder not found");
  }
  ConvertOptions resolved = options;
  if (!resolved.dtype) {
    std::ifstream in(fs::path(options.hf_path) / "config.json");
    if (in) resolved.dtype = dtype_from_config(json::parse(in, nullptr, false));
  }
  const fs::path tmp = out.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write_model(resolved, tmp);
    for (const char* name : kCopiedFiles) {
      const fs::path src = fs::path(options.hf_path) / name;
      if (fs::exists(src)) fs::copy_file(src, tmp / name);
    }
    fs::rename(tmp, out);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

}  // namespace tessera::lm
