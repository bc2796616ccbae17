// Primitives of the affine quantization ops (include/tessera/quantized.h).
#pragma once

#include "core/primitive.h"
#include "tessera/quantized.h"

namespace tessera {

// w [..., cols] -> packed [..., cols * bits / 32] uint32, scales, biases [..., cols / group_size].
class Quantize : public Primitive {
 public:
  Quantize(Device d, int group_size, int bits) : Primitive(d), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  const char* name() const override { return "quantize"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int group_size_;
  int bits_;
};

// (packed, scales, biases) -> q * scale + bias in the scales' dtype.
class Dequantize : public UnaryPrimitive {
 public:
  Dequantize(Device d, int group_size, int bits) : UnaryPrimitive(d), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "dequantize"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int group_size_;
  int bits_;
};

// Makes the decode layouts (the copies of W that products of few rows of x with W^T read) of the
// matrices that the CPU and their shapes take and that have none, all in one block of memory.
// Their w, scales and biases are evaluated.
void prepare_decode_layouts(const std::vector<PackedMatrix>& matrices);

// (x, packed, scales, biases) -> x · W^T (transpose) or x · W.
class QuantizedMatmul : public UnaryPrimitive {
 public:
  QuantizedMatmul(Device d, int group_size, int bits, bool transpose, bool int8_activations)
      : UnaryPrimitive(d),
        group_size_(group_size),
        bits_(bits),
        transpose_(transpose),
        int8_activations_(int8_activations) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "quantized_matmul"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int group_size_;
  int bits_;
  bool transpose_;
  bool int8_activations_;
};

// (x, then packed, scales and biases of each matrix) -> x · W_i^T for every matrix, one output
// each; the matrices share group_size and bits.
class QuantizedMatmuls : public Primitive {
 public:
  QuantizedMatmuls(Device d, int group_size, int bits, bool int8_activations)
      : Primitive(d), group_size_(group_size), bits_(bits), int8_activations_(int8_activations) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "quantized_matmuls"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int group_size_;
  int bits_;
  bool int8_activations_;
};

// (packed, scales, biases, indices) -> the dequantized rows picked by indices.
class QuantizedTake : public UnaryPrimitive {
 public:
  QuantizedTake(Device d, int group_size, int bits) : UnaryPrimitive(d), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "quantized_take"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int group_size_;
  int bits_;
};

}  // namespace tessera
