// Creation, dtype and elementwise ops.
#include "tessera/ops.h"

#include <algorithm>
#include <cmath>

#include "core/dtype_dispatch.h"
#include "core/primitives/elementwise.h"
#include "core/primitives/shape.h"
#include "core/utils.h"

namespace tessera {

namespace {

std::string op_error(const char* op, const std::string& msg) { return std::string("[") + op + "] " + msg; }

// The result dtype of a binary op. A weakly-typed scalar (made from a C++ number) takes the
// other operand's dtype unless that would lose its kind (a float scalar with an integer array
// gives float32), as Python scalars do in MLX.
Dtype result_type(const array& a, const array& b) {
  const bool wa = a.is_weak_scalar(), wb = b.is_weak_scalar();
  if (wa == wb) return promote_types(a.dtype(), b.dtype());
  const array& strong = wa ? b : a;
  const array& weak = wa ? a : b;
  if (is_floating_point(strong.dtype())) return strong.dtype();
  if (is_floating_point(weak.dtype())) return float32;
  if (strong.dtype() == bool_) return weak.dtype();
  return strong.dtype();
}

// a in dtype; a weak scalar is converted right away instead of through a graph node.
array cast_operand(const array& a, Dtype dtype, const Device& d) {
  if (a.dtype() == dtype) return a;
  if (a.is_weak_scalar() && a.is_evaluated()) {
    return dispatch_dtype(a.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      return array(a.data<T>(), Shape{}, dtype);
    });
  }
  return astype(a, dtype, d);
}

array unary_op(UnaryOp op, const array& a, const StreamOrDevice& s) {
  const char* name = unary_op_name(op);
  Device d = to_device(s, name);
  bool float_only = true;
  Dtype out_dtype = a.dtype();
  switch (op) {
    case UnaryOp::abs:
    case UnaryOp::sign:
    case UnaryOp::square:
    case UnaryOp::floor:
    case UnaryOp::ceil:
    case UnaryOp::round:
      float_only = false;
      break;
    case UnaryOp::negative:
      if (a.dtype() == bool_) throw std::invalid_argument(op_error(name, "Cannot negate a bool array."));
      float_only = false;
      break;
    case UnaryOp::logical_not:
    case UnaryOp::isnan:
    case UnaryOp::isinf:
    case UnaryOp::isfinite:
      float_only = false;
      out_dtype = bool_;
      break;
    default:
      break;
  }
  array in = a;
  if (float_only && !is_floating_point(a.dtype())) {
    in = astype(a, float32, d);
    out_dtype = float32;
  }
  return array(in.shape(), out_dtype, std::make_shared<Unary>(d, op), {in});
}

bool is_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::equal:
    case BinaryOp::not_equal:
    case BinaryOp::less:
    case BinaryOp::less_equal:
    case BinaryOp::greater:
    case BinaryOp::greater_equal:
    case BinaryOp::logical_and:
    case BinaryOp::logical_or:
      return true;
    default:
      return false;
  }
}

Shape broadcast_shapes_for(const char* op, const Shape& a, const Shape& b) {
  try {
    return broadcast_shapes(a, b);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(op_error(op, "Shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                                                 " cannot be broadcast."));
  }
}

array binary_op(BinaryOp op, const array& a, const array& b, const StreamOrDevice& s) {
  const char* name = binary_op_name(op);
  Device d = to_device(s, name);
  Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes_for(name, a.shape(), b.shape());
  Dtype dtype = result_type(a, b);
  if (op == BinaryOp::logical_and || op == BinaryOp::logical_or) {
    dtype = bool_;
  } else if ((op == BinaryOp::divide || op == BinaryOp::logaddexp || op == BinaryOp::arctan2) &&
             !is_floating_point(dtype)) {
    dtype = float32;
  }
  Dtype out_dtype = is_comparison(op) ? bool_ : dtype;
  return array(std::move(shape), out_dtype, std::make_shared<Binary>(d, op),
               {cast_operand(a, dtype, d), cast_operand(b, dtype, d)});
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw std::invalid_argument("[broadcast_shapes] Shapes " + shape_to_string(a) + " and " +
                                  shape_to_string(b) + " cannot be broadcast.");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- creation ----

array full(Shape shape, array value, Dtype dtype, StreamOrDevice s) {
  Device d = to_device(s, "full");
  for (auto n : shape) {
    if (n < 0) throw std::invalid_argument("[full] Negative dimension in shape " + shape_to_string(shape) + ".");
  }
  broadcast_shapes_for("full", value.shape(), shape);
  if (shape_size(value.shape()) > 1 && broadcast_shapes(value.shape(), shape) != shape) {
    throw std::invalid_argument("[full] Value of shape " + shape_to_string(value.shape()) +
                                " cannot be broadcast to shape " + shape_to_string(shape) + ".");
  }
  return array(std::move(shape), dtype, std::make_shared<Full>(d), {cast_operand(value, dtype, d)});
}

array full(Shape shape, array value, StreamOrDevice s) {
  Dtype dtype = value.dtype();
  return full(std::move(shape), std::move(value), dtype, s);
}

array zeros(Shape shape, Dtype dtype, StreamOrDevice s) { return full(std::move(shape), array(0, dtype), dtype, s); }
array ones(Shape shape, Dtype dtype, StreamOrDevice s) { return full(std::move(shape), array(1, dtype), dtype, s); }
array zeros_like(const array& a, StreamOrDevice s) { return zeros(a.shape(), a.dtype(), s); }
array ones_like(const array& a, StreamOrDevice s) { return ones(a.shape(), a.dtype(), s); }
array full_like(const array& a, array value, StreamOrDevice s) { return full(a.shape(), std::move(value), a.dtype(), s); }

array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s) {
  Device d = to_device(s, "arange");
  if (step == 0) throw std::invalid_argument("[arange] Cannot use a step of 0.");
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    throw std::invalid_argument("[arange] Start, stop and step must be finite.");
  }
  if (dtype == bool_) throw std::invalid_argument("[arange] Cannot make a bool range.");
  double n = std::ceil((stop - start) / step);
  int64_t size = n > 0 ? static_cast<int64_t>(n) : 0;
  return array(Shape{size}, dtype, std::make_shared<Arange>(d, start, step), {});
}

array arange(double start, double stop, Dtype dtype, StreamOrDevice s) { return arange(start, stop, 1.0, dtype, s); }
array arange(double stop, Dtype dtype, StreamOrDevice s) { return arange(0.0, stop, 1.0, dtype, s); }
array arange(int stop, StreamOrDevice s) { return arange(0.0, static_cast<double>(stop), 1.0, int32, s); }
array arange(int start, int stop, int step, StreamOrDevice s) {
  return arange(static_cast<double>(start), static_cast<double>(stop), static_cast<double>(step), int32, s);
}

array linspace(double start, double stop, int num, Dtype dtype, StreamOrDevice s) {
  if (num < 0) throw std::invalid_argument("[linspace] The number of samples must be non-negative, got " +
                                           std::to_string(num) + ".");
  if (num == 1) return full({1}, array(static_cast<float>(start)), dtype, s);
  double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  array t = arange(0.0, static_cast<double>(num), 1.0, float32, s);
  return astype(add(multiply(t, array(static_cast<float>(step)), s), array(static_cast<float>(start)), s), dtype, s);
}

array tri(int n, int m, int k, Dtype dtype, StreamOrDevice s) {
  if (n < 0 || m < 0) throw std::invalid_argument("[tri] Dimensions must be non-negative.");
  array rows = expand_dims(arange(0.0, n, 1.0, int32, s), 1, s);
  array cols = arange(0.0, m, 1.0, int32, s);
  return astype(greater_equal(add(rows, array(k), s), cols, s), dtype, s);
}

array tri(int n, Dtype dtype, StreamOrDevice s) { return tri(n, n, 0, dtype, s); }

array eye(int n, int m, int k, Dtype dtype, StreamOrDevice s) {
  if (m < 0) m = n;
  if (n < 0) throw std::invalid_argument("[eye] Dimensions must be non-negative.");
  array rows = expand_dims(arange(0.0, n, 1.0, int32, s), 1, s);
  array cols = arange(0.0, m, 1.0, int32, s);
  return astype(equal(add(rows, array(k), s), cols, s), dtype, s);
}

array identity(int n, Dtype dtype, StreamOrDevice s) { return eye(n, n, 0, dtype, s); }

// ---- dtype, copies ----

array astype(const array& a, Dtype dtype, StreamOrDevice s) {
  if (a.dtype() == dtype) return a;
  Device d = to_device(s, "astype");
  return array(a.shape(), dtype, std::make_shared<AsType>(d, dtype), {a});
}

array copy(const array& a, StreamOrDevice s) {
  return array(a.shape(), a.dtype(), std::make_shared<Copy>(to_device(s, "copy"), false), {a});
}

array contiguous(const array& a, StreamOrDevice s) {
  if (a.is_evaluated() && a.flags().row_contiguous) return a;
  return array(a.shape(), a.dtype(), std::make_shared<Copy>(to_device(s, "contiguous"), true), {a});
}

array stop_gradient(const array& a, StreamOrDevice s) {
  return array(a.shape(), a.dtype(), std::make_shared<StopGradient>(to_device(s, "stop_gradient")), {a});
}

// ---- unary ----

array abs(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::abs, a, s); }
array negative(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::negative, a, s); }
array sign(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::sign, a, s); }
array exp(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::exp, a, s); }
array expm1(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::expm1, a, s); }
array log(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::log, a, s); }
array log1p(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::log1p, a, s); }
array log2(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::log2, a, s); }
array log10(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::log10, a, s); }
array sqrt(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::sqrt, a, s); }
array rsqrt(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::rsqrt, a, s); }
array square(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::square, a, s); }
array reciprocal(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::reciprocal, a, s); }
array sin(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::sin, a, s); }
array cos(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::cos, a, s); }
array tan(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::tan, a, s); }
array tanh(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::tanh, a, s); }
array sigmoid(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::sigmoid, a, s); }
array erf(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::erf, a, s); }
array erfinv(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::erfinv, a, s); }
array floor(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::floor, a, s); }
array ceil(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::ceil, a, s); }
array round(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::round, a, s); }
array logical_not(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::logical_not, a, s); }
array isnan(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::isnan, a, s); }
array isinf(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::isinf, a, s); }
array isfinite(const array& a, StreamOrDevice s) { return unary_op(UnaryOp::isfinite, a, s); }

array nan_to_num(const array& a, float nan, std::optional<float> posinf, std::optional<float> neginf,
                 StreamOrDevice s) {
  if (!is_floating_point(a.dtype())) return a;
  float hi = posinf.value_or(a.dtype() == float16 ? 65504.0f : std::numeric_limits<float>::max());
  float lo = neginf.value_or(-hi);
  if (a.dtype() == bfloat16 && !posinf) {
    hi = static_cast<float>(bfloat16_t::from_bits(0x7f7f));
    lo = neginf.value_or(-hi);
  }
  array out = where(isnan(a, s), array(nan), a, s);
  out = where(logical_and(isinf(a, s), greater(a, array(0.0f), s), s), array(hi), out, s);
  return where(logical_and(isinf(a, s), less(a, array(0.0f), s), s), array(lo), out, s);
}

// ---- binary ----

array add(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::add, a, b, s); }
array subtract(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::subtract, a, b, s); }
array multiply(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::multiply, a, b, s); }
array divide(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::divide, a, b, s); }
array power(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::power, a, b, s); }
array maximum(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::maximum, a, b, s); }
array minimum(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::minimum, a, b, s); }
array floor_divide(const array& a, const array& b, StreamOrDevice s) {
  return binary_op(BinaryOp::floor_divide, a, b, s);
}
array remainder(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::remainder, a, b, s); }
array logaddexp(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::logaddexp, a, b, s); }
array arctan2(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::arctan2, a, b, s); }
array equal(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::equal, a, b, s); }
array not_equal(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::not_equal, a, b, s); }
array less(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::less, a, b, s); }
array less_equal(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::less_equal, a, b, s); }
array greater(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::greater, a, b, s); }
array greater_equal(const array& a, const array& b, StreamOrDevice s) {
  return binary_op(BinaryOp::greater_equal, a, b, s);
}
array logical_and(const array& a, const array& b, StreamOrDevice s) {
  return binary_op(BinaryOp::logical_and, a, b, s);
}
array logical_or(const array& a, const array& b, StreamOrDevice s) { return binary_op(BinaryOp::logical_or, a, b, s); }

array where(const array& condition, const array& x, const array& y, StreamOrDevice s) {
  Device d = to_device(s, "where");
  Shape shape = broadcast_shapes_for("where", broadcast_shapes_for("where", condition.shape(), x.shape()), y.shape());
  Dtype dtype = result_type(x, y);
  return array(std::move(shape), dtype, std::make_shared<Select>(d),
               {cast_operand(condition, bool_, d), cast_operand(x, dtype, d), cast_operand(y, dtype, d)});
}

array clip(const array& a, const std::optional<array>& lo, const std::optional<array>& hi, StreamOrDevice s) {
  if (!lo && !hi) throw std::invalid_argument("[clip] At least one of lo and hi must be given.");
  array out = a;
  if (lo) out = maximum(out, *lo, s);
  if (hi) out = minimum(out, *hi, s);
  return out;
}

bool allclose(const array& a, const array& b, double rtol, double atol) {
  array diff = abs(subtract(astype(a, float32), astype(b, float32)));
  array tol = add(array(static_cast<float>(atol)), multiply(array(static_cast<float>(rtol)), abs(astype(b, float32))));
  array close = logical_or(less_equal(diff, tol), equal(astype(a, float32), astype(b, float32)));
  auto values = close.to_vector<bool>();
  return std::all_of(values.begin(), values.end(), [](bool v) { return v; });
}

// ---- operators ----

array operator-(const array& a) { return negative(a); }
array operator!(const array& a) { return logical_not(a); }
array operator+(const array& a, const array& b) { return add(a, b); }
array operator-(const array& a, const array& b) { return subtract(a, b); }
array operator*(const array& a, const array& b) { return multiply(a, b); }
array operator/(const array& a, const array& b) { return divide(a, b); }
array operator%(const array& a, const array& b) { return remainder(a, b); }
array operator==(const array& a, const array& b) { return equal(a, b); }
array operator!=(const array& a, const array& b) { return not_equal(a, b); }
array operator<(const array& a, const array& b) { return less(a, b); }
array operator<=(const array& a, const array& b) { return less_equal(a, b); }
array operator>(const array& a, const array& b) { return greater(a, b); }
array operator>=(const array& a, const array& b) { return greater_equal(a, b); }
array operator&&(const array& a, const array& b) { return logical_and(a, b); }
array operator||(const array& a, const array& b) { return logical_or(a, b); }

}  // namespace tessera
