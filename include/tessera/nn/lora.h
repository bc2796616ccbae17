// Low-rank adapters (mlx-lm's LoRALinear / DoRALinear) over a Linear or a QuantizedLinear
// (QLoRA), and their placement in a model's decoder blocks.
//
// Storage is mlx-lm's: the wrapped layer is the child `linear` (frozen), the adapter is
// `lora_a` [in, r] and `lora_b` [r, out] (DoRA adds the magnitude `m` [out]);
// y = linear(x) + scale * ((dropout(x) A) B), with scale used as is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessera/nn/layers.h"

namespace tessera::nn {

struct LoRAParameters {
  int rank = 8;
  float scale = 20.0f;
  float dropout = 0.0f;
  // Layer paths inside a block ("self_attn.q_proj") or their last names ("q_proj"); empty:
  // every Linear / QuantizedLinear of the block.
  std::vector<std::string> keys;
};

class LoRALinear : public UnaryModule {
 public:
  // Wraps `linear` (a Linear or QuantizedLinear); A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0.
  LoRALinear(std::shared_ptr<UnaryModule> linear, int rank, float scale, float dropout = 0.0f);
  std::string type_name() const override { return "LoRALinear"; }
  array operator()(const array& x) override;

  float scale() const { return scale_; }
  UnaryModule& linear() const { return *linear_; }
  // The wrapped layer's weight as a float [out, in] matrix (dequantized for a quantized base).
  array base_weight() const;
  // W + scale * (A B)^T, the merged float weight [out, in] (DoRA: renormalized to m).
  virtual array fused_weight() const;

 protected:
  array adapter_output(const array& x);

  float scale_;
  Child<UnaryModule> linear_;
  Child<Dropout> dropout_;
};

// DoRA: the LoRA output rescaled row-wise by m / ||W + scale (A B)^T|| (the norm is treated as
// a constant for gradients, as mlx-lm does); m starts at the row norms of W.
class DoRALinear : public LoRALinear {
 public:
  DoRALinear(std::shared_ptr<UnaryModule> linear, int rank, float scale, float dropout = 0.0f);
  std::string type_name() const override { return "DoRALinear"; }
  array operator()(const array& x) override;
  array fused_weight() const override;
};

// Input and output sizes of a Linear or QuantizedLinear; throws for other modules.
std::pair<int, int> linear_dims(const Module& module);

// The block list of a model: the ModuleList whose path ends in "layers" (model.layers).
std::pair<std::string, std::shared_ptr<Module>> find_layers(const Module& model);

// Freezes the model and replaces, in the last `num_layers` blocks (-1: all), the layers that
// `params.keys` select by LoRALinear (or DoRALinear with `dora`). Returns the replaced paths.
// Throws when no layer matches.
std::vector<std::string> linear_to_lora_layers(Module& model, int num_layers, const LoRAParameters& params,
                                               bool dora = false);

// Freezes the model and unfreezes the last `num_layers` blocks (-1: all) for full fine-tuning.
void unfreeze_last_layers(Module& model, int num_layers);

}  // namespace tessera::nn
