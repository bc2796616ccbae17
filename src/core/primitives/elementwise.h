// Elementwise primitives: unary math, binary arithmetic/comparison (with broadcasting) and select.
#pragma once

#include <cstdint>

#include "core/primitive.h"

namespace tessera {

enum class UnaryOp : uint8_t {
  abs, negative, sign, exp, expm1, log, log1p, log2, log10, sqrt, rsqrt, square, reciprocal,
  sin, cos, tan, tanh, sigmoid, erf, erfinv, floor, ceil, round, logical_not, isnan, isinf, isfinite,
};

enum class BinaryOp : uint8_t {
  add, subtract, multiply, divide, power, maximum, minimum, floor_divide, remainder, logaddexp, arctan2,
  equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or,
};

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

class Unary : public UnaryPrimitive {
 public:
  Unary(Device d, UnaryOp op) : UnaryPrimitive(d), op_(op) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return unary_op_name(op_); }
  bool is_equivalent(const Primitive& other) const override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  UnaryOp op() const { return op_; }

 private:
  UnaryOp op_;
};

// Inputs keep their own shapes; the output has their broadcast shape and the kernel broadcasts
// with zero strides, so no broadcast node is built per op.
class Binary : public UnaryPrimitive {
 public:
  Binary(Device d, BinaryOp op) : UnaryPrimitive(d), op_(op) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return binary_op_name(op_); }
  bool is_equivalent(const Primitive& other) const override;
  BinaryOp op() const { return op_; }

 private:
  BinaryOp op_;
};

// where(condition, x, y), broadcasting all three.
class Select : public UnaryPrimitive {
 public:
  explicit Select(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "where"; }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Select*>(&other) != nullptr; }
};

// Sums a cotangent over the axes along which an input of `shape` was broadcast.
array reduce_to_shape(const array& cotangent, const Shape& shape);

}  // namespace tessera
