// Reductions, softmax and scans.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/primitives/reduce.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

Shape kept_shape(const Shape& shape, const std::vector<int>& axes) {
  Shape out = shape;
  for (int ax : axes) out[ax] = 1;
  return out;
}

Shape squeezed_shape(const Shape& shape, const std::vector<int>& axes) {
  Shape out;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) out.push_back(shape[d]);
  }
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<int>& axes) {
  int64_t n = 1;
  for (int ax : axes) n *= shape[ax];
  return n;
}

array reduce_op(const array& a, const std::vector<int>& axes_in, bool keepdims, cpu::ReduceKind kind,
                const char* op, StreamOrDevice s) {
  std::vector<int> axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), op);
  std::sort(axes.begin(), axes.end());
  if ((kind == cpu::ReduceKind::max || kind == cpu::ReduceKind::min) && reduced_count(a.shape(), axes) == 0) {
    throw std::invalid_argument(std::string("[") + op + "] Cannot reduce a zero-size array of shape " +
                                shape_to_string(a.shape()) + " (the reduction has no identity).");
  }
  array out(kept_shape(a.shape(), axes), cpu::reduce_output_dtype(kind, a.dtype()),
            std::make_shared<Reduce>(to_device(s, op), kind, axes), {a});
  return keepdims ? out : reshape(out, squeezed_shape(a.shape(), axes), s);
}

Dtype float_dtype(Dtype d) { return is_floating_point(d) ? d : float32; }

array arg_reduce_op(const array& a, int axis_in, bool keepdims, bool is_max, StreamOrDevice s) {
  const char* op = is_max ? "argmax" : "argmin";
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), op);
  if (a.shape(axis) == 0) {
    throw std::invalid_argument(std::string("[") + op + "] Cannot take the " + op +
                                " of an empty axis (shape " + shape_to_string(a.shape()) + ").");
  }
  array out(kept_shape(a.shape(), {axis}), uint32, std::make_shared<ArgReduce>(to_device(s, op), is_max, axis), {a});
  return keepdims ? out : reshape(out, squeezed_shape(a.shape(), {axis}), s);
}

array scan_op(const array& a, int axis_in, bool reverse, bool inclusive, cpu::ScanKind kind, StreamOrDevice s) {
  const char* op = kind == cpu::ScanKind::sum ? "cumsum" : "cummax";
  if (a.ndim() == 0) throw std::invalid_argument(std::string("[") + op + "] Expected an array with at least one axis.");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), op);
  return array(a.shape(), cpu::scan_output_dtype(kind, a.dtype()),
               std::make_shared<Scan>(to_device(s, op), kind, axis, reverse, inclusive), {a});
}

// Softmax or log-softmax over one axis, run by the last-axis kernel.
array softmax_axis(const array& a, int axis_in, bool log, StreamOrDevice s) {
  const char* op = log ? "log_softmax" : "softmax";
  if (a.ndim() == 0) throw std::invalid_argument(std::string("[") + op + "] Expected an array with at least one axis.");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), op);
  const array x = is_floating_point(a.dtype()) ? a : astype(a, float32, s);
  const int last = static_cast<int>(a.ndim()) - 1;
  const array moved = axis == last ? x : moveaxis(x, axis, -1, s);
  array out(moved.shape(), moved.dtype(), std::make_shared<Softmax>(to_device(s, op), log), {moved});
  return axis == last ? out : moveaxis(out, -1, axis, s);
}

}  // namespace

#define TESSERA_REDUCTION(NAME, KIND)                                                                \
  array NAME(const array& a, bool keepdims, StreamOrDevice s) {                                      \
    return reduce_op(a, all_axes(a), keepdims, KIND, #NAME, s);                                      \
  }                                                                                                  \
  array NAME(const array& a, int axis, bool keepdims, StreamOrDevice s) {                            \
    return reduce_op(a, {axis}, keepdims, KIND, #NAME, s);                                           \
  }                                                                                                  \
  array NAME(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {        \
    return reduce_op(a, axes, keepdims, KIND, #NAME, s);                                             \
  }

TESSERA_REDUCTION(sum, cpu::ReduceKind::sum)
TESSERA_REDUCTION(prod, cpu::ReduceKind::prod)
TESSERA_REDUCTION(max, cpu::ReduceKind::max)
TESSERA_REDUCTION(min, cpu::ReduceKind::min)
TESSERA_REDUCTION(all, cpu::ReduceKind::all)
TESSERA_REDUCTION(any, cpu::ReduceKind::any)
#undef TESSERA_REDUCTION

array mean(const array& a, bool keepdims, StreamOrDevice s) { return mean(a, all_axes(a), keepdims, s); }
array mean(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return mean(a, std::vector<int>{axis}, keepdims, s);
}
array mean(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  const auto norm = normalize_axes(axes, static_cast<int>(a.ndim()), "mean");
  const Dtype dt = float_dtype(a.dtype());
  const array total = sum(astype(a, dt, s), norm, keepdims, s);
  const int64_t n = reduced_count(a.shape(), norm);
  return multiply(total, array(n ? 1.0f / static_cast<float>(n) : std::numeric_limits<float>::quiet_NaN(), dt), s);
}

array var(const array& a, bool keepdims, int ddof, StreamOrDevice s) { return var(a, all_axes(a), keepdims, ddof, s); }
array var(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return var(a, std::vector<int>{axis}, keepdims, ddof, s);
}
array var(const array& a, const std::vector<int>& axes, bool keepdims, int ddof, StreamOrDevice s) {
  const auto norm = normalize_axes(axes, static_cast<int>(a.ndim()), "var");
  const Dtype dt = float_dtype(a.dtype());
  const array x = astype(a, dt, s);
  const array centered = subtract(x, mean(x, norm, true, s), s);
  const int64_t n = reduced_count(a.shape(), norm);
  const float denom = static_cast<float>(n - ddof);
  const float factor = denom > 0 ? 1.0f / denom : std::numeric_limits<float>::quiet_NaN();
  return multiply(sum(square(centered, s), norm, keepdims, s), array(factor, dt), s);
}

array std(const array& a, bool keepdims, int ddof, StreamOrDevice s) { return sqrt(var(a, keepdims, ddof, s), s); }
array std(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return sqrt(var(a, axis, keepdims, ddof, s), s);
}
array std(const array& a, const std::vector<int>& axes, bool keepdims, int ddof, StreamOrDevice s) {
  return sqrt(var(a, axes, keepdims, ddof, s), s);
}

array logsumexp(const array& a, bool keepdims, StreamOrDevice s) { return logsumexp(a, all_axes(a), keepdims, s); }
array logsumexp(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, std::vector<int>{axis}, keepdims, s);
}
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  const auto norm = normalize_axes(axes, static_cast<int>(a.ndim()), "logsumexp");
  const array x = astype(a, float_dtype(a.dtype()), s);
  if (reduced_count(a.shape(), norm) == 0) {
    return log(sum(exp(x, s), norm, keepdims, s), s);
  }
  // Shift by the (gradient-free) maximum; an infinite maximum shifts by 0 so that all -inf
  // gives -inf and any +inf gives +inf rather than NaN.
  array m = stop_gradient(max(x, norm, true, s), s);
  m = where(isinf(m, s), zeros_like(m, s), m, s);
  array out = add(log(sum(exp(subtract(x, m, s), s), norm, true, s), s), m, s);
  return keepdims ? out : reshape(out, squeezed_shape(a.shape(), norm), s);
}

array argmax(const array& a, bool keepdims, StreamOrDevice s) {
  array out = arg_reduce_op(reshape(a, {-1}, s), 0, false, true, s);
  return keepdims ? reshape(out, Shape(a.ndim(), 1), s) : out;
}
array argmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce_op(a, axis, keepdims, true, s);
}
array argmin(const array& a, bool keepdims, StreamOrDevice s) {
  array out = arg_reduce_op(reshape(a, {-1}, s), 0, false, false, s);
  return keepdims ? reshape(out, Shape(a.ndim(), 1), s) : out;
}
array argmin(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce_op(a, axis, keepdims, false, s);
}

// The kernel always accumulates in float32, so `precise` needs no separate path.
array softmax(const array& a, int axis, bool, StreamOrDevice s) { return softmax_axis(a, axis, false, s); }
array softmax(const array& a, const std::vector<int>& axes, bool precise, StreamOrDevice s) {
  if (axes.size() == 1) return softmax(a, axes[0], precise, s);
  const auto norm = normalize_axes(axes, static_cast<int>(a.ndim()), "softmax");
  const array x = astype(a, float_dtype(a.dtype()), s);
  const array shifted = exp(subtract(x, stop_gradient(max(x, norm, true, s), s), s), s);
  return divide(shifted, sum(shifted, norm, true, s), s);
}
array log_softmax(const array& a, int axis, StreamOrDevice s) { return softmax_axis(a, axis, true, s); }

array cumsum(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, cpu::ScanKind::sum, s);
}
array cummax(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan_op(a, axis, reverse, inclusive, cpu::ScanKind::max, s);
}

}  // namespace tessera
