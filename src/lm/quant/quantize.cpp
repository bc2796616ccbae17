#include "tessera/lm/quantize.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <tuple>

#include "lm/models/moe.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera::lm {

namespace {

// A bank of E quantized expert matrices: weight [E, out, in * bits / 32], scales and biases
// [E, out, in / group_size]. An expert's slice is a contiguous view, multiplied in place.
class QuantizedSwitchLinear : public SwitchLinear {
 public:
  QuantizedSwitchLinear(int input_dims, int output_dims, int num_experts, int group_size, int bits)
      : SwitchLinear(input_dims, output_dims, num_experts), group_size_(group_size), bits_(bits) {
    if (input_dims % group_size != 0) {
      throw std::invalid_argument("[QuantizedSwitchLinear] The input dimension (" + std::to_string(input_dims) +
                                  ") must be a multiple of the group size (" + std::to_string(group_size) + ").");
    }
    auto [w, s, b] = quantize(zeros({1, output_dims, input_dims}, float32), group_size, bits);
    register_parameter("weight", zeros({num_experts, w.shape(1), w.shape(2)}, uint32));
    register_parameter("scales", zeros({num_experts, s.shape(1), s.shape(2)}, float32));
    register_parameter("biases", zeros({num_experts, b.shape(1), b.shape(2)}, float32));
    freeze();
  }

  std::string type_name() const override { return "QuantizedSwitchLinear"; }

  array operator()(const array& x, int expert) override {
    return quantized_matmul(x, expert_slice("weight", expert), expert_slice("scales", expert),
                            expert_slice("biases", expert), true, group_size_, bits_);
  }

  int group_size() const { return group_size_; }
  int bits() const { return bits_; }

 private:
  array expert_slice(const std::string& name, int expert) const {
    const array& p = parameter(name);
    return reshape(slice(p, {expert, 0, 0}, {expert + 1, p.shape(1), p.shape(2)}), {p.shape(1), p.shape(2)});
  }

  int group_size_;
  int bits_;
};

int input_dims_of(const array& packed, int bits) { return static_cast<int>(packed.shape(-1) * 32 / bits); }

bool is_router(const std::string& path) { return path == "gate" || path.ends_with(".gate"); }

std::optional<nn::QuantizationSpec> parse_spec(const nlohmann::json& j, const std::string& where) {
  if (j.is_boolean() && !j.get<bool>()) return std::nullopt;
  if (!j.is_object() || !j.contains("group_size") || !j.contains("bits") || !j["group_size"].is_number_integer() ||
      !j["bits"].is_number_integer()) {
    throw std::runtime_error(where + ": expected {\"group_size\": int, \"bits\": int} or false");
  }
  if (j.contains("mode") && j["mode"] != "affine") {
    throw std::runtime_error(where + ": quantization mode " + j["mode"].dump() +
                             " is not supported (only \"affine\")");
  }
  return nn::QuantizationSpec{j["group_size"].get<int>(), j["bits"].get<int>()};
}

// The dotted path of a parameter's module: "model.layers.0.mlp.gate_proj" for ".weight".
std::string module_of(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

// A zero-filled quantized layer shaped like `module`, to receive the checkpoint's tensors.
std::shared_ptr<nn::Module> quantized_placeholder(const nn::Module& module, const nn::QuantizationSpec& spec) {
  if (const auto* linear = dynamic_cast<const nn::Linear*>(&module)) {
    const array& w = linear->weight();
    return std::make_shared<nn::QuantizedLinear>(static_cast<int>(w.shape(1)), static_cast<int>(w.shape(0)),
                                                 linear->has_bias(), spec.group_size, spec.bits);
  }
  if (const auto* embedding = dynamic_cast<const nn::Embedding*>(&module)) {
    const array& w = embedding->weight();
    return std::make_shared<nn::QuantizedEmbedding>(static_cast<int>(w.shape(0)), static_cast<int>(w.shape(1)),
                                                    spec.group_size, spec.bits);
  }
  if (const auto* bank = dynamic_cast<const SwitchLinear*>(&module)) {
    const array& w = bank->parameter("weight");
    return std::make_shared<QuantizedSwitchLinear>(static_cast<int>(w.shape(2)), static_cast<int>(w.shape(1)),
                                                   static_cast<int>(w.shape(0)), spec.group_size, spec.bits);
  }
  return nullptr;
}

}  // namespace

std::optional<nn::QuantizationSpec> QuantizationConfig::spec_for(const std::string& path) const {
  auto it = overrides.find(path);
  return it != overrides.end() ? it->second : std::optional<nn::QuantizationSpec>(defaults);
}

nlohmann::json QuantizationConfig::to_json() const {
  nlohmann::json j = {{"group_size", defaults.group_size}, {"bits", defaults.bits}, {"mode", "affine"}};
  for (const auto& [path, spec] : overrides) {
    j[path] = spec ? nlohmann::json{{"group_size", spec->group_size}, {"bits", spec->bits}} : nlohmann::json(false);
  }
  return j;
}

std::optional<QuantizationConfig> read_quantization_config(const nlohmann::json& config, const std::string& source) {
  const char* key = config.contains("quantization") ? "quantization" : "quantization_config";
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const nlohmann::json& block = config[key];
  const std::string where = source + ": \"" + key + "\"";
  auto defaults = parse_spec(block, where);
  if (!defaults) throw std::runtime_error(where + ": must be an object");
  QuantizationConfig out;
  out.defaults = *defaults;
  for (const auto& [name, value] : block.items()) {
    if (value.is_object() || value.is_boolean()) out.overrides[name] = parse_spec(value, where + "[\"" + name + "\"]");
  }
  return out;
}

void prepare_quantized_load(Model& model, const nlohmann::json& config, const nn::ParameterMap& weights,
                            const std::string& source) {
  std::optional<QuantizationConfig> qc;
  bool config_read = false;
  for (const auto& [name, tensor] : weights) {
    const std::string path = module_of(name);
    if (name.ends_with(".weight") && tensor.dtype() == uint32 && !weights.count(path + ".scales")) {
      throw std::runtime_error(source + ": tensor '" + name + "' is a packed quantized weight but '" + path +
                               ".scales' is missing");
    }
    if (!name.ends_with(".scales")) continue;
    if (!config_read) {
      qc = read_quantization_config(config, source);
      config_read = true;
    }
    if (!qc) {
      throw std::runtime_error(source + ": the checkpoint holds quantized tensors ('" + name +
                               "') but there is no \"quantization\" block");
    }
    if (!weights.count(path + ".biases") || !weights.count(path + ".weight")) {
      throw std::runtime_error(source + ": quantized layer '" + path + "' needs '" + path + ".weight' and '" + path +
                               ".biases' next to its scales");
    }
    const std::optional<nn::QuantizationSpec> spec = qc->spec_for(path);
    if (!spec) {
      throw std::runtime_error(source + ": layer '" + path + "' is marked unquantized but has '" + name + "'");
    }
    std::shared_ptr<nn::Module> current;
    try {
      current = model.module(path);
    } catch (const std::exception&) {
      continue;  // not a module of this model: load_weights reports the unexpected tensors
    }
    std::shared_ptr<nn::Module> placeholder;
    try {
      placeholder = quantized_placeholder(*current, *spec);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(source + ": layer '" + path + "': " + e.what());
    }
    if (!placeholder) {
      throw std::runtime_error(source + ": layer '" + path + "' (" + current->type_name() + ") cannot be quantized");
    }
    model.replace_module(path, placeholder);
  }
}

std::shared_ptr<nn::Module> to_quantized(const nn::Module& module, const nn::QuantizationSpec& spec) {
  if (dynamic_cast<const QuantizedSwitchLinear*>(&module)) return nullptr;
  if (const auto* bank = dynamic_cast<const SwitchLinear*>(&module)) {
    const array& weight = bank->parameter("weight");
    if (weight.shape(-1) % spec.group_size != 0) return nullptr;
    auto q = std::make_shared<QuantizedSwitchLinear>(static_cast<int>(weight.shape(2)), static_cast<int>(weight.shape(1)),
                                                     static_cast<int>(weight.shape(0)), spec.group_size, spec.bits);
    auto [w, s, b] = quantize(weight, spec.group_size, spec.bits);
    eval(w, s, b);
    q->update({{"weight", w}, {"scales", s}, {"biases", b}});
    return q;
  }
  return nn::to_quantized(module, spec);
}

nn::QuantizePredicate mixed_quantization_predicate(const std::string& recipe, const Model& model, int group_size) {
  int low_bits = 0;
  int high_bits = 6;
  if (recipe == "mixed_2_6") {
    low_bits = 2;
  } else if (recipe == "mixed_3_4") {
    low_bits = 3;
    high_bits = 4;
  } else if (recipe == "mixed_3_6") {
    low_bits = 3;
  } else if (recipe == "mixed_4_6") {
    low_bits = 4;
  } else {
    throw std::invalid_argument("[quantize] Unknown quantization recipe '" + recipe +
                                "' (expected mixed_2_6, mixed_3_4, mixed_3_6 or mixed_4_6)");
  }
  // Where the layer index sits in a module path, found from the first down_proj.
  size_t layer_position = std::string::npos;
  for (const auto& [path, module] : model.named_modules()) {
    if (path.find("down_proj") == std::string::npos) continue;
    size_t position = 0, start = 0;
    while (start <= path.size()) {
      const size_t dot = std::min(path.find('.', start), path.size());
      const std::string part = path.substr(start, dot - start);
      if (!part.empty() && std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); })) {
        layer_position = position;
        break;
      }
      ++position;
      start = dot + 1;
    }
    break;
  }
  if (layer_position == std::string::npos) {
    throw std::invalid_argument("[quantize] The model has no layered down_proj modules for recipe '" + recipe + "'");
  }
  const int num_layers = model.num_layers();
  return [=](const std::string& path, const nn::Module&) -> std::optional<nn::QuantizationSpec> {
    int index = 0;
    size_t position = 0, start = 0;
    while (start <= path.size()) {
      const size_t dot = std::min(path.find('.', start), path.size());
      if (position == layer_position) {
        const std::string part = path.substr(start, dot - start);
        if (!part.empty() && std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); })) {
          index = std::stoi(part);
        }
        break;
      }
      ++position;
      start = dot + 1;
    }
    const int eighth = num_layers / 8;
    const bool more_bits = index < eighth || index >= 7 * num_layers / 8 || ((index - eighth) % 3 + 3) % 3 == 2;
    const bool sensitive = path.find("v_proj") != std::string::npos || path.find("down_proj") != std::string::npos;
    if ((sensitive && more_bits) || path.find("lm_head") != std::string::npos) {
      return nn::QuantizationSpec{group_size, high_bits};
    }
    return nn::QuantizationSpec{group_size, low_bits};
  };
}

QuantizationConfig quantize_model(Model& model, int group_size, int bits, const nn::QuantizePredicate& predicate) {
  QuantizationConfig qc;
  qc.defaults = {group_size, bits};
  auto choose = [&](const std::string& path, const nn::Module& module) -> std::optional<nn::QuantizationSpec> {
    if (predicate) return predicate(path, module);
    if (is_router(path)) return nn::QuantizationSpec{64, 8};
    return qc.defaults;
  };
  for (const auto& [path, spec] : nn::quantize(model, choose, to_quantized)) {
    if (predicate || spec.group_size != group_size || spec.bits != bits) qc.overrides[path] = spec;
  }
  return qc;
}

void dequantize_model(Model& model) {
  const auto modules = model.named_modules();
  for (const auto& [path, module] : modules) {
    std::shared_ptr<nn::Module> replacement;
    if (auto* ql = dynamic_cast<nn::QuantizedLinear*>(module.get())) {
      const array& w = ql->parameter("weight");
      array dq = dequantize(w, ql->parameter("scales"), ql->parameter("biases"), ql->group_size(), ql->bits());
      auto linear = std::make_shared<nn::Linear>(input_dims_of(w, ql->bits()), static_cast<int>(w.shape(0)),
                                                 ql->has_parameter("bias"));
      nn::ParameterMap params{{"weight", dq}};
      if (ql->has_parameter("bias")) params.emplace("bias", ql->parameter("bias"));
      linear->update(params);
      replacement = linear;
    } else if (auto* qe = dynamic_cast<nn::QuantizedEmbedding*>(module.get())) {
      const array& w = qe->parameter("weight");
      auto embedding = std::make_shared<nn::Embedding>(static_cast<int>(w.shape(0)), input_dims_of(w, qe->bits()));
      embedding->update({{"weight", dequantize(w, qe->parameter("scales"), qe->parameter("biases"),
                                               qe->group_size(), qe->bits())}});
      replacement = embedding;
    } else if (auto* qs = dynamic_cast<QuantizedSwitchLinear*>(module.get())) {
      const array& w = qs->parameter("weight");
      auto bank = std::make_shared<SwitchLinear>(input_dims_of(w, qs->bits()), static_cast<int>(w.shape(1)),
                                                 static_cast<int>(w.shape(0)));
      bank->update({{"weight", dequantize(w, qs->parameter("scales"), qs->parameter("biases"), qs->group_size(),
                                          qs->bits())}});
      replacement = bank;
    }
    if (replacement) {
      std::vector<array> params;
      for (auto& [name, p] : replacement->parameters()) params.push_back(p);
      eval(params);
      model.replace_module(path, replacement);
    }
  }
}

}  // namespace tessera::lm
