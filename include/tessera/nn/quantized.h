// Quantized layers (mlx.nn.QuantizedLinear / QuantizedEmbedding) and the swap of a module
// tree's float layers for quantized ones (mlx.nn.quantize).
//
// Parameters: `weight` (packed uint32 [out, in * bits / 32]), `scales`, `biases`
// ([out, in / group_size]) and, for a Linear with bias, `bias`. All are frozen: a quantized
// layer is fine-tuned through adapters, not directly.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/nn/layers.h"
#include "tessera/quantized.h"

namespace tessera::nn {

struct QuantizationSpec {
  int group_size = 64;
  int bits = 4;
};

class QuantizedLinear : public UnaryModule {
 public:
  // Zero placeholders of the right shapes, to be filled by load_weights.
  QuantizedLinear(int input_dims, int output_dims, bool bias, int group_size = 64, int bits = 4);
  // The quantized copy of a float Linear (its weight must have input_dims % group_size == 0).
  static std::shared_ptr<QuantizedLinear> from_linear(const Linear& linear, int group_size = 64, int bits = 4);

  std::string type_name() const override { return "QuantizedLinear"; }
  array operator()(const array& x) override;
  // The packed weight with its scales, biases and quantization (for prepare_quantized_matmul).
  PackedMatrix packed_matrix() const;
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }
  // quantized_matmul's int8_activations for this layer's products (off by default).
  void set_int8_activations(bool on) { int8_activations_ = on; }
  bool int8_activations() const { return int8_activations_; }

 private:
  int group_size_;
  int bits_;
  bool int8_activations_ = false;
};

// Each layer applied to the same x (a layer's q, k and v projections; its gate and up): where all
// are QuantizedLinear layers of one quantization and activation form, as one quantized_matmuls
// product, whose short decoding products no longer start and end one by one; otherwise layer
// after layer. Either way each output is exactly what its layer gives.
std::vector<array> apply_side_by_side(const std::vector<UnaryModule*>& layers, const array& x);

class QuantizedEmbedding : public Embedding {
 public:
  QuantizedEmbedding(int num_embeddings, int dims, int group_size = 64, int bits = 4);
  static std::shared_ptr<QuantizedEmbedding> from_embedding(const Embedding& embedding, int group_size = 64,
                                                            int bits = 4);

  std::string type_name() const override { return "QuantizedEmbedding"; }
  array operator()(const array& ids) override;
  // x W^T with the quantized table: the tied output head.
  array as_linear(const array& x) override;
  // The packed table with its scales, biases and quantization (for prepare_quantized_matmul).
  PackedMatrix packed_matrix() const;
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }
  // quantized_matmul's int8_activations for as_linear (off by default).
  void set_int8_activations(bool on) { int8_activations_ = on; }

 private:
  bool int8_activations_ = false;
  int group_size_;
  int bits_;
};

// The parameters of a module tree as mlx-lm counts them: a quantized layer counts the elements
// of its unpacked weight (32 / bits per packed word) and its bias, not its scales and biases.
size_t parameter_count(const Module& root);

// Which modules to quantize and how: a spec, or nothing to leave the module as it is.
using QuantizePredicate = std::function<std::optional<QuantizationSpec>(const std::string& path, const Module& module)>;
// The quantized replacement of a module, or nullptr when it has none (wrong type, or an input
// dimension the group size does not divide).
using QuantizedFactory = std::function<std::shared_ptr<Module>(const Module& module, const QuantizationSpec& spec)>;

// Linear -> QuantizedLinear, Embedding -> QuantizedEmbedding; nullptr otherwise.
std::shared_ptr<Module> to_quantized(const Module& module, const QuantizationSpec& spec);

// Replaces, in place, every descendant of `model` that the predicate selects and the factory
// can quantize. Returns the dotted paths of the replaced modules with the spec used.
std::vector<std::pair<std::string, QuantizationSpec>> quantize(Module& model, const QuantizePredicate& predicate,
                                                               const QuantizedFactory& factory = to_quantized);
// Every quantizable layer with one spec.
std::vector<std::pair<std::string, QuantizationSpec>> quantize(Module& model, int group_size = 64, int bits = 4);

}  // namespace tessera::nn
