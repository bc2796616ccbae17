// Fusing adapters into the base weights and writing the result as a model folder.
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tessera/io.h"
#include "tessera/lm/tuner.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera::lm {

namespace fs = std::filesystem;

namespace {

std::shared_ptr<nn::Linear> float_linear(const array& weight, const std::optional<array>& bias) {
  auto linear = std::make_shared<nn::Linear>(static_cast<int>(weight.shape(1)), static_cast<int>(weight.shape(0)),
                                             bias.has_value());
  nn::ParameterMap p{{"weight", weight}};
  if (bias) p.emplace("bias", *bias);
  linear->update(p);
  return linear;
}

std::optional<array> bias_of(const nn::Module& m) {
  if (m.has_parameter("bias")) return m.parameter("bias");
  return std::nullopt;
}

array dequantized(const nn::Module& m, int group_size, int bits) {
  return dequantize(m.parameter("weight"), m.parameter("scales"), m.parameter("biases"), group_size, bits);
}

void dequantize_all(Model& model) {
  for (auto& [path, module] : model.named_modules()) {
    if (auto* q = dynamic_cast<nn::QuantizedLinear*>(module.get())) {
      model.replace_module(path, float_linear(dequantized(*q, q->group_size(), q->bits()), bias_of(*q)));
    } else if (auto* e = dynamic_cast<nn::QuantizedEmbedding*>(module.get())) {
      array table = dequantized(*e, e->group_size(), e->bits());
      auto plain = std::make_shared<nn::Embedding>(static_cast<int>(table.shape(0)), static_cast<int>(table.shape(1)));
      plain->update({{"weight", table}});
      model.replace_module(path, plain);
    }
  }
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  if (!out) throw std::runtime_error(file.string() + ": cannot write");
}

}  // namespace

void fuse_adapters(Model& model, bool dequantize) {
  for (auto& [path, module] : model.named_modules()) {
    auto* lora = dynamic_cast<nn::LoRALinear*>(module.get());
    if (!lora) continue;
    array weight = lora->fused_weight();
    auto plain = float_linear(weight, bias_of(lora->linear()));
    const auto* q = dynamic_cast<const nn::QuantizedLinear*>(&lora->linear());
    if (q && !dequantize) {
      model.replace_module(path, nn::QuantizedLinear::from_linear(*plain, q->group_size(), q->bits()));
    } else {
      model.replace_module(path, plain);
    }
  }
  if (dequantize) dequantize_all(model);
}

void fuse(const FuseOptions& options) {
  if (options.save_path.empty()) throw std::invalid_argument("--save-path is required");
  if (fs::exists(options.save_path)) {
    throw std::runtime_error(options.save_path + ": already exists; refusing to overwrite it");
  }
  LoadedModel loaded = load(options.model_path);
  apply_adapters(*loaded.model, options.adapter_path);
  fuse_adapters(*loaded.model, options.dequantize);

  const fs::path tmp = options.save_path + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    auto params = loaded.model->parameters();
    std::unordered_map<std::string, array> tensors(params.begin(), params.end());
    save_safetensors((tmp / "model.safetensors").string(), tensors, {{"format", "mlx"}});
    nlohmann::json cfg = loaded.config;
    if (options.dequantize) {
      cfg.erase("quantization");
      cfg.erase("quantization_config");
    }
    write_text(tmp / "config.json", cfg.dump(4) + "\n");
    for (const auto& entry : fs::directory_iterator(options.model_path)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || name == "config.json" || name.ends_with(".safetensors") ||
          name == "model.safetensors.index.json") {
        continue;
      }
      fs::copy_file(entry.path(), tmp / name);
    }
    fs::rename(tmp, options.save_path);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace tessera::lm
