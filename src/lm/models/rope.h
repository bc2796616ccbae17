// RoPE modules for every supported rope type, built from a RopeConfig.
#pragma once

#include "lm/models/rope_config.h"
#include "tessera/nn/layers.h"

#include <memory>

namespace tessera::lm {

// default, linear and llama3 are a fixed nn::RoPE (base, scale or a frequency table);
// dynamic and longrope choose their frequencies from the sequence length of each call.
std::shared_ptr<nn::RoPE> make_rope(const RopeConfig& rope, int head_dim);

// Dynamic NTK scaling: past max_position_embeddings the base grows with the sequence length.
class DynamicNTKRoPE : public nn::RoPE {
 public:
  explicit DynamicNTKRoPE(const RopeConfig& rope, int dims);
  std::string type_name() const override { return "DynamicNTKRoPE"; }
  using nn::RoPE::operator();
  array operator()(const array& x, int offset, const std::optional<array>& row_offsets) const override;

 private:
  RopeConfig rope_;
};

// LongRoPE (Phi-3): short factors while the sequence fits original_max_position_embeddings,
// long factors beyond, as transformers switches them. The attention factor (which scales cos
// and sin) is applied by the attention through its scale, see rope_attention_factor.
class LongRoPE : public nn::RoPE {
 public:
  LongRoPE(const RopeConfig& rope, int dims);
  std::string type_name() const override { return "LongRoPE"; }
  using nn::RoPE::operator();
  array operator()(const array& x, int offset, const std::optional<array>& row_offsets) const override;

 private:
  int original_max_position_embeddings_;
  array short_freqs_;
  array long_freqs_;
};

}  // namespace tessera::lm
