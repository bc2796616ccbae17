// Quantized language models: loading checkpoints quantized by mlx-lm (or `tessera convert`),
// and quantizing a loaded model the way mlx-lm's convert does.
//
// config.json carries `"quantization": {"group_size", "bits", "mode": "affine",
// "<module path>": {"group_size", "bits"} | false}` (also read as `quantization_config`).
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tessera/lm/model.h"
#include "tessera/nn/quantized.h"

namespace tessera::lm {

struct QuantizationConfig {
  nn::QuantizationSpec defaults;
  // Per-module settings by dotted path; nullopt for a module marked `false` (kept in float).
  std::map<std::string, std::optional<nn::QuantizationSpec>> overrides;

  // The spec of the module at `path`: its override, else the defaults.
  std::optional<nn::QuantizationSpec> spec_for(const std::string& path) const;
  // The `quantization` block of config.json.
  nlohmann::json to_json() const;
};

// The quantization block of a parsed config.json (`quantization`, else `quantization_config`),
// or nullopt when there is none. `source` names the file in errors.
std::optional<QuantizationConfig> read_quantization_config(const nlohmann::json& config,
                                                           const std::string& source = "config.json");

// Before load_weights: swaps every layer that the checkpoint stores quantized (`<path>.scales`
// present) for a quantized one with the config's group size and bits. Errors (std::runtime_error)
// for quantized tensors without a quantization block, a packed weight without scales, or a mode
// other than affine.
void prepare_quantized_load(Model& model, const nlohmann::json& config, const nn::ParameterMap& weights,
                            const std::string& source = "config.json");

// Linear, Embedding and the stacked expert banks of MoE layers; nullptr for anything else.
std::shared_ptr<nn::Module> to_quantized(const nn::Module& module, const nn::QuantizationSpec& spec);

// mlx-lm's mixed recipes ("mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6"): low bits
// everywhere, high bits for lm_head and for v_proj / down_proj in the first and last eighth of
// the layers and every third layer between. Throws std::invalid_argument for another name.
nn::QuantizePredicate mixed_quantization_predicate(const std::string& recipe, const Model& model, int group_size = 64);

// Quantizes the model in place as mlx-lm's convert does: every layer whose input dimension the
// group size divides, MoE routers at 8 bits, the predicate's choice when one is given (it may
// return nullopt to keep a layer in float). Returns the config block to write.
QuantizationConfig quantize_model(Model& model, int group_size, int bits,
                                  const nn::QuantizePredicate& predicate = nullptr);

// Replaces every quantized layer by its dequantized float equivalent (in the scales' dtype).
void dequantize_model(Model& model);

}  // namespace tessera::lm
