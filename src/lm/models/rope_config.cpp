#include "lm/models/rope_config.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tessera::lm {
namespace {

using nlohmann::json;

const std::vector<std::string>& supported_rope_types() {
  static const std::vector<std::string> types = {"default", "linear", "dynamic", "llama3", "longrope"};
  return types;
}

bool is_rope_dict(const json& j) {
  return j.contains("rope_type") || j.contains("type") || j.contains("rope_theta");
}

double number_at(const ConfigReader& config, const json& dict, const std::string& where,
                 const std::string& key) {
  const auto& v = dict.at(key);
  if (!v.is_number()) {
    config.fail("'" + where + "." + key + "' must be a number, got " + v.dump());
  }
  return v.get<double>();
}

double required_number(const ConfigReader& config, const json& dict, const std::string& where,
                       const std::string& key) {
  if (!dict.contains(key) || dict.at(key).is_null()) {
    config.fail("'" + where + "' of rope type '" + dict.value("rope_type", dict.value("type", "")) +
                "' needs '" + key + "'");
  }
  return number_at(config, dict, where, key);
}

std::vector<double> number_list(const ConfigReader& config, const json& dict, const std::string& where,
                                const std::string& key) {
  if (!dict.contains(key) || !dict.at(key).is_array()) {
    config.fail("'" + where + "' of rope type longrope needs a list '" + key + "'");
  }
  std::vector<double> out;
  for (const auto& v : dict.at(key)) {
    if (!v.is_number()) {
      config.fail("'" + where + "." + key + "' must hold numbers, got " + v.dump());
    }
    out.push_back(v.get<double>());
  }
  return out;
}

// Fills `rope` from one rope dict (rope_parameters or rope_scaling); `where` names it in errors.
void read_rope_dict(const ConfigReader& config, const json& dict, const std::string& where, RopeConfig& rope) {
  if (!dict.is_object()) {
    config.fail("'" + where + "' must be an object, got " + dict.dump());
  }
  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    if (dict.contains(key) && dict.at(key).is_string()) {
      type = dict.at(key).get<std::string>();
      break;
    }
  }
  if (type == "su") {
    type = "longrope";  // the name Phi-3 checkpoints used before transformers renamed it
  }
  const auto& types = supported_rope_types();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    std::string list;
    for (const auto& t : types) {
      list += (list.empty() ? "" : ", ") + t;
    }
    config.fail("unsupported rope type '" + type + "' in '" + where + "' (supported: " + list + ")");
  }
  rope.type = type;
  auto optional_number = [&](const char* key) -> std::optional<double> {
    if (dict.contains(key) && !dict.at(key).is_null()) {
      return number_at(config, dict, where, key);
    }
    return std::nullopt;
  };
  if (auto theta = optional_number("rope_theta")) {
    rope.theta = *theta;
  }
  if (auto prf = optional_number("partial_rotary_factor")) {
    rope.partial_rotary_factor = *prf;
  }
  if (auto omax = optional_number("original_max_position_embeddings")) {
    rope.original_max_position_embeddings = static_cast<int>(*omax);
  }
  rope.attention_factor = optional_number("attention_factor");
  if (type == "linear" || type == "dynamic" || type == "llama3") {
    rope.factor = required_number(config, dict, where, "factor");
  }
  if (type == "llama3") {
    rope.low_freq_factor = required_number(config, dict, where, "low_freq_factor");
    rope.high_freq_factor = required_number(config, dict, where, "high_freq_factor");
    if (!rope.original_max_position_embeddings) {
      config.fail("'" + where + "' of rope type 'llama3' needs 'original_max_position_embeddings'");
    }
  }
  if (type == "longrope") {
    rope.short_factor = number_list(config, dict, where, "short_factor");
    rope.long_factor = number_list(config, dict, where, "long_factor");
    if (auto factor = optional_number("factor")) {
      rope.factor = *factor;
    }
  }
}

}  // namespace

RopeConfig parse_rope_config(const ConfigReader& config, const std::string& layer_type, double default_theta) {
  RopeConfig rope;
  rope.max_position_embeddings = config.get_int("max_position_embeddings", 0);
  rope.original_max_position_embeddings = config.get_optional_int("original_max_position_embeddings");
  rope.partial_rotary_factor = config.get_double("partial_rotary_factor", 1.0);
  rope.theta = config.get_double("rope_theta", default_theta);

  if (config.has("rope_parameters")) {
    const json& params = config.json().at("rope_parameters");
    if (!params.is_object()) {
      config.fail("'rope_parameters' must be an object, got " + params.dump());
    }
    if (is_rope_dict(params)) {
      read_rope_dict(config, params, "rope_parameters", rope);
    } else if (layer_type.empty()) {
      config.fail("'rope_parameters' is keyed by layer type, but this model has a single RoPE");
    } else if (!params.contains(layer_type)) {
      config.fail("'rope_parameters' has no entry for layer type '" + layer_type + "'");
    } else {
      read_rope_dict(config, params.at(layer_type), "rope_parameters." + layer_type, rope);
    }
    return rope;
  }
  if (layer_type == "sliding_attention") {
    // Legacy gemma3 layout: local layers use their own base and no scaling.
    rope.theta = config.get_double("rope_local_base_freq", 10000.0);
    return rope;
  }
  if (config.has("rope_scaling")) {
    read_rope_dict(config, config.json().at("rope_scaling"), "rope_scaling", rope);
  }
  return rope;
}

int rope_dims(const RopeConfig& rope, int head_dim) {
  return static_cast<int>(head_dim * rope.partial_rotary_factor);
}

std::vector<float> default_inv_freq(double theta, int dims) {
  std::vector<float> inv(dims / 2);
  const float base = static_cast<float>(theta);
  for (int i = 0; i < dims / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dims);
    inv[i] = 1.0f / std::pow(base, exponent);
  }
  return inv;
}

std::vector<float> llama3_inv_freq(const RopeConfig& rope, int dims) {
  std::vector<float> inv = default_inv_freq(rope.theta, dims);
  const double old_context = *rope.original_max_position_embeddings;
  const double low_freq_wavelen = old_context / rope.low_freq_factor;
  const double high_freq_wavelen = old_context / rope.high_freq_factor;
  const float factor = static_cast<float>(rope.factor);
  for (auto& f : inv) {
    const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / f;
    if (wavelen > low_freq_wavelen) {
      f = f / factor;
    } else if (wavelen >= high_freq_wavelen) {
      const float smooth = static_cast<float>((old_context / wavelen - rope.low_freq_factor) /
                                              (rope.high_freq_factor - rope.low_freq_factor));
      f = (1.0f - smooth) * f / factor + smooth * f;
    }
  }
  return inv;
}

std::vector<float> longrope_inv_freq(const RopeConfig& rope, int dims, const std::vector<double>& factors) {
  std::vector<float> inv(dims / 2);
  const float base = static_cast<float>(rope.theta);
  for (int i = 0; i < dims / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dims);
    inv[i] = 1.0f / (static_cast<float>(factors[i]) * std::pow(base, exponent));
  }
  return inv;
}

double rope_attention_factor(const RopeConfig& rope) {
  if (rope.attention_factor) {
    return *rope.attention_factor;
  }
  if (rope.type == "longrope") {
    double factor = rope.factor;
    if (rope.original_max_position_embeddings && rope.max_position_embeddings > 0) {
      factor = static_cast<double>(rope.max_position_embeddings) / *rope.original_max_position_embeddings;
    }
    if (factor <= 1.0) {
      return 1.0;
    }
    return std::sqrt(1.0 + std::log(factor) / std::log(static_cast<double>(*rope.original_max_position_embeddings)));
  }
  return 1.0;
}

double dynamic_ntk_base(const RopeConfig& rope, int dims, int seq_len) {
  const int max_pos = rope.max_position_embeddings;
  if (max_pos <= 0 || seq_len <= max_pos) {
    return rope.theta;
  }
  const double ratio = rope.factor * seq_len / max_pos - (rope.factor - 1.0);
  return rope.theta * std::pow(ratio, static_cast<double>(dims) / (dims - 2));
}

}  // namespace tessera::lm
