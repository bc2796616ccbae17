#include "core/primitives/elementwise.h"

#include <cmath>
#include <numbers>

#include "backend/cpu/elementwise.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

const char* const kUnaryNames[] = {
    "abs",  "negative", "sign",  "exp",     "expm1", "log",   "log1p",       "log2",  "log10",
    "sqrt", "rsqrt",    "square", "reciprocal", "sin", "cos", "tan",         "tanh",  "sigmoid",
    "erf",  "erfinv",   "floor", "ceil",    "round", "logical_not", "isnan", "isinf", "isfinite",
};

const char* const kBinaryNames[] = {
    "add",     "subtract", "multiply",  "divide",     "power",   "maximum",       "minimum",
    "floor_divide", "remainder", "logaddexp", "arctan2", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
};

array zeros_for(const array& a) { return zeros_like(a); }

}  // namespace

const char* unary_op_name(UnaryOp op) { return kUnaryNames[static_cast<int>(op)]; }
const char* binary_op_name(BinaryOp op) { return kBinaryNames[static_cast<int>(op)]; }

array reduce_to_shape(const array& cotangent, const Shape& shape) {
  if (cotangent.shape() == shape) return cotangent;
  const int lead = static_cast<int>(cotangent.ndim() - shape.size());
  std::vector<int> axes;
  for (int i = 0; i < lead; ++i) axes.push_back(i);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1 && cotangent.shape()[lead + i] != 1) axes.push_back(lead + static_cast<int>(i));
  }
  array reduced = axes.empty() ? cotangent : sum(cotangent, axes, true);
  return reshape(reduced, shape);
}

void Unary::eval_cpu(const std::vector<array>& inputs, array& out) { cpu::unary(op_, inputs[0], out); }

bool Unary::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Unary*>(&other);
  return o && o->op_ == op_;
}

std::vector<array> Unary::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array& g = cotangents[0];
  const array& y = outputs[0];
  switch (op_) {
    case UnaryOp::abs: return {g * sign(x)};
    case UnaryOp::negative: return {-g};
    case UnaryOp::exp: return {g * y};
    case UnaryOp::expm1: return {g * (y + 1.0f)};
    case UnaryOp::log: return {g / x};
    case UnaryOp::log1p: return {g / (x + 1.0f)};
    case UnaryOp::log2: return {g / (x * static_cast<float>(std::numbers::ln2))};
    case UnaryOp::log10: return {g / (x * static_cast<float>(std::numbers::ln10))};
    case UnaryOp::sqrt: return {g * 0.5f / y};
    case UnaryOp::rsqrt: return {g * -0.5f * y / x};
    case UnaryOp::square: return {g * 2.0f * x};
    case UnaryOp::reciprocal: return {-g * y * y};
    case UnaryOp::sin: return {g * cos(x)};
    case UnaryOp::cos: return {-g * sin(x)};
    case UnaryOp::tan: return {g * (square(y) + 1.0f)};
    case UnaryOp::tanh: return {g * (1.0f - square(y))};
    case UnaryOp::sigmoid: return {g * y * (1.0f - y)};
    case UnaryOp::erf: return {g * static_cast<float>(2.0 / std::sqrt(std::numbers::pi)) * exp(-square(x))};
    case UnaryOp::erfinv: return {g * static_cast<float>(std::sqrt(std::numbers::pi) / 2.0) * exp(square(y))};
    case UnaryOp::sign:
    case UnaryOp::floor:
    case UnaryOp::ceil:
    case UnaryOp::round:
    case UnaryOp::logical_not:
    case UnaryOp::isnan:
    case UnaryOp::isinf:
    case UnaryOp::isfinite:
      break;
  }
  return {zeros_for(x)};
}

void Binary::eval_cpu(const std::vector<array>& inputs, array& out) { cpu::binary(op_, inputs[0], inputs[1], out); }

bool Binary::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Binary*>(&other);
  return o && o->op_ == op_;
}

std::vector<array> Binary::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array& a = primals[0];
  const array& b = primals[1];
  const array& g = cotangents[0];
  const array& y = outputs[0];
  std::vector<array> grads;
  for (int arg : argnums) {
    const bool first = arg == 0;
    const array& x = first ? a : b;
    std::optional<array> d;
    switch (op_) {
      case BinaryOp::add: d = g; break;
      case BinaryOp::subtract: d = first ? g : -g; break;
      case BinaryOp::multiply: d = g * (first ? b : a); break;
      case BinaryOp::divide: d = first ? g / b : -g * y / b; break;
      case BinaryOp::power:
        d = first ? g * b * power(a, b - 1.0f) : g * y * log(where(a > 0.0f, a, ones_like(a)));
        break;
      case BinaryOp::maximum: d = where(first ? greater(a, b) : less_equal(a, b), g, zeros_like(g)); break;
      case BinaryOp::minimum: d = where(first ? less(a, b) : greater_equal(a, b), g, zeros_like(g)); break;
      case BinaryOp::remainder: d = first ? g : -g * floor_divide(a, b); break;
      case BinaryOp::logaddexp: d = g * exp(x - y); break;
      case BinaryOp::arctan2: {
        array denom = square(a) + square(b);
        d = first ? g * b / denom : -g * a / denom;
        break;
      }
      case BinaryOp::floor_divide:
      case BinaryOp::equal:
      case BinaryOp::not_equal:
      case BinaryOp::less:
      case BinaryOp::less_equal:
      case BinaryOp::greater:
      case BinaryOp::greater_equal:
      case BinaryOp::logical_and:
      case BinaryOp::logical_or:
        d = zeros(g.shape(), g.dtype());
        break;
    }
    grads.push_back(astype(reduce_to_shape(*d, x.shape()), x.dtype()));
  }
  return grads;
}

void Select::eval_cpu(const std::vector<array>& inputs, array& out) {
  cpu::select(inputs[0], inputs[1], inputs[2], out);
}

std::vector<array> Select::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  const array& cond = primals[0];
  const array& g = cotangents[0];
  std::vector<array> grads;
  for (int arg : argnums) {
    const array& x = primals[arg];
    if (arg == 0) {
      grads.push_back(zeros_like(cond));
      continue;
    }
    array z = zeros_like(g);
    array d = arg == 1 ? where(cond, g, z) : where(cond, z, g);
    grads.push_back(astype(reduce_to_shape(d, x.shape()), x.dtype()));
  }
  return grads;
}

}  // namespace tessera
