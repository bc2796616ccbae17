// Layers: Linear, Embedding, RMSNorm, LayerNorm, RoPE, Dropout (as in mlx.nn).
//
// Parameters start in float32 with MLX's initializers (lazily: a checkpoint that replaces them
// means they are never computed); loading keeps the stored arrays, dtype and all.
#pragma once

#include "tessera/nn/module.h"

#include <optional>
#include <utility>

namespace tessera::nn {

// y = x W^T + b, W [out, in] (the Hugging Face layout).
class Linear : public UnaryModule {
 public:
  Linear(int input_dims, int output_dims, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  array operator()(const array& x) override;
  const array& weight() const { return parameter("weight"); }
  bool has_bias() const { return has_parameter("bias"); }
};

// Token ids -> rows of W [num_embeddings, dims].
class Embedding : public UnaryModule {
 public:
  Embedding(int num_embeddings, int dims);
  std::string type_name() const override { return "Embedding"; }
  array operator()(const array& ids) override;
  // x W^T: the output head of a model with tied embeddings.
  virtual array as_linear(const array& x);
  const array& weight() const { return parameter("weight"); }
};

// x * rsqrt(mean(x^2) + eps) * weight over the last axis (fast::rms_norm). With
// `unit_offset` (Gemma) the scale is 1 + weight, taken in float32, and weight starts at 0.
class RMSNorm : public UnaryModule {
 public:
  RMSNorm(int dims, float eps = 1e-5f, bool unit_offset = false);
  std::string type_name() const override { return "RMSNorm"; }
  array operator()(const array& x) override;
  float eps() const { return eps_; }
  bool unit_offset() const { return unit_offset_; }

 private:
  float eps_;
  bool unit_offset_;
  // (weight, 1 + weight in float32); holding the weight keeps its id from being reused.
  std::optional<std::pair<array, array>> offset_scale_;
};

class LayerNorm : public UnaryModule {
 public:
  LayerNorm(int dims, float eps = 1e-5f, bool affine = true, bool bias = true);
  std::string type_name() const override { return "LayerNorm"; }
  array operator()(const array& x) override;

 private:
  float eps_;
};

// Rotary position embedding over x [..., T, D] for positions offset..offset+T-1
// (fast::rope). The frequencies are either base^(-2i/dims) or given as `freqs` (MLX's
// convention: inv_freq = 1 / freqs); they are fixed at construction. Not a parameter holder.
// `row_offsets` (int32 [B]), when given, places each batch row of x [B, ..., T, D] at its own
// position instead; `offset` then only chooses length-dependent frequencies (the batch cache's
// clock).
class RoPE : public Module {
 public:
  RoPE(int dims, bool traditional = false, float base = 10000.0f, float scale = 1.0f,
       std::optional<array> freqs = {});
  std::string type_name() const override { return "RoPE"; }
  array operator()(const array& x, int offset) const { return (*this)(x, offset, std::nullopt); }
  virtual array operator()(const array& x, int offset, const std::optional<array>& row_offsets) const;
  int dims() const { return dims_; }

 protected:
  int dims_;
  bool traditional_;
  float base_;
  float scale_;
  std::optional<array> freqs_;
};

// Zeroes elements with probability p in training mode and scales the rest by 1 / (1 - p).
class Dropout : public UnaryModule {
 public:
  explicit Dropout(float p = 0.5f);
  std::string type_name() const override { return "Dropout"; }
  array operator()(const array& x) override;

 private:
  float p_;
};

}  // namespace tessera::nn
