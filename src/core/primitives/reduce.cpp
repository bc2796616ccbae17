#include "core/primitives/reduce.h"

#include <algorithm>
#include <limits>

#include "core/allocator.h"
#include "core/primitives/row_contiguous.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

void allocate(array& out) { out.set_data(allocator::malloc(out.nbytes())); }

// Moves `axis` of a to the end.
array axis_last(const array& a, int axis) { return moveaxis(a, axis, -1); }

}  // namespace

const char* Reduce::name() const {
  switch (kind_) {
    case cpu::ReduceKind::sum: return "sum";
    case cpu::ReduceKind::prod: return "prod";
    case cpu::ReduceKind::max: return "max";
    case cpu::ReduceKind::min: return "min";
    case cpu::ReduceKind::all: return "all";
    case cpu::ReduceKind::any: return "any";
  }
  return "reduce";
}

void Reduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  allocate(out);
  cpu::reduce(kind_, in.dtype(), in.data<void>(), in.shape(), in.strides(), axes_, out.data<void>());
}

std::vector<array> Reduce::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array g = astype(cotangents[0], x.dtype());
  switch (kind_) {
    case cpu::ReduceKind::sum:
      return {broadcast_to(g, x.shape())};
    case cpu::ReduceKind::prod: {
      // d prod / d x_i is the product of the others: exclusive products from both ends.
      std::vector<int> perm, kept;
      Shape kept_shape;
      for (int d = 0; d < static_cast<int>(x.ndim()); ++d) {
        if (std::find(axes_.begin(), axes_.end(), d) == axes_.end()) {
          perm.push_back(d);
          kept_shape.push_back(x.shape(d));
        }
      }
      perm.insert(perm.end(), axes_.begin(), axes_.end());
      const array moved = transpose(x, perm);
      int64_t n = 1;
      for (int ax : axes_) n *= x.shape(ax);
      Shape flat_shape = kept_shape;
      flat_shape.push_back(n);
      const array flat = reshape(moved, flat_shape);
      const array others = multiply(exclusive_cumprod_last(flat, false, device()), exclusive_cumprod_last(flat, true, device()));
      Shape g_shape = kept_shape;
      g_shape.push_back(1);
      const array grad = reshape(multiply(others, reshape(g, g_shape)), moved.shape());
      std::vector<int> inverse(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int>(i);
      return {transpose(grad, inverse)};
    }
    case cpu::ReduceKind::max:
    case cpu::ReduceKind::min: {
      // Ties share the gradient equally.
      array hit = astype(equal(x, outputs[0]), x.dtype());
      return {divide(multiply(g, hit), sum(hit, axes_, true))};
    }
    default:
      return Primitive::vjp(primals, cotangents, {0}, outputs);
  }
}

void ArgReduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  allocate(out);
  cpu::arg_reduce(is_max_, in.dtype(), in.data<void>(), in.shape(), in.strides(), axis_, out.data<uint32_t>());
}

void Softmax::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  allocate(out);
  if (in.size() == 0) return;
  RowContiguous x(in);
  const int64_t n = in.shape().back();
  cpu::softmax_rows(in.dtype(), x.data(), out.data<void>(), static_cast<int64_t>(in.size()) / n, n, log_);
}

std::vector<array> Softmax::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>& outputs) {
  const array& y = outputs[0];
  const array& g = cotangents[0];
  if (log_) return {subtract(g, multiply(exp(y), sum(g, -1, true)))};
  return {multiply(y, subtract(g, sum(multiply(g, y), -1, true)))};
}

array exclusive_cumprod_last(const array& a, bool reverse, Device device) {
  const int axis = static_cast<int>(a.ndim()) - 1;
  return array(a.shape(), a.dtype(), std::make_shared<Scan>(device, cpu::ScanKind::prod, axis, reverse, false), {a});
}

const char* Scan::name() const {
  switch (kind_) {
    case cpu::ScanKind::sum: return "cumsum";
    case cpu::ScanKind::max: return "cummax";
    case cpu::ScanKind::prod: return "cumprod";
  }
  return "scan";
}

void Scan::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  allocate(out);
  if (in.size() == 0) return;
  RowContiguous x(in);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis_; ++d) outer *= in.shape(d);
  for (int d = axis_ + 1; d < static_cast<int>(in.ndim()); ++d) inner *= in.shape(d);
  cpu::scan(kind_, in.dtype(), x.data(), out.data<void>(), outer, in.shape(axis_), inner, reverse_, inclusive_);
}

std::vector<array> Scan::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  if (kind_ == cpu::ScanKind::sum) return {cumsum(cotangents[0], axis_, !reverse_, inclusive_)};
  // The product scan only serves prod's gradient; it has no gradient of its own.
  if (kind_ == cpu::ScanKind::prod) return Primitive::vjp(primals, cotangents, {0}, {});

  // cummax: output k copies input p(k), the last "record" (an element larger than everything
  // before it in scan order) at or before k; input i collects the cotangents of outputs with
  // p(k) == i.
  const array x = axis_last(primals[0], axis_);
  array g = axis_last(cotangents[0], axis_);
  const int n = static_cast<int>(x.shape().back());
  if (n == 0) return {zeros_like(primals[0])};
  const int last = static_cast<int>(x.ndim()) - 1;
  auto take_range = [&](const array& a, int64_t from, int64_t to) {
    Shape start(a.ndim(), 0), stop = a.shape();
    start[last] = from;
    stop[last] = to;
    return slice(a, start, stop);
  };
  Shape one = x.shape();
  one[last] = 1;
  const array running = cummax(x, -1, reverse_, true);
  const array lowest = full(one, array(-std::numeric_limits<float>::infinity()), x.dtype());
  const array before = reverse_ ? concatenate({take_range(running, 1, n), lowest}, -1)
                                : concatenate({lowest, take_range(running, 0, n - 1)}, -1);
  const array record = greater(x, before);
  const array pos = arange(0, n, 1);
  array source = reverse_ ? negative(cummax(where(record, negative(pos), array(-n)), -1, true, true))
                          : cummax(where(record, pos, array(-1)), -1, false, true);
  if (!inclusive_) {
    // An exclusive scan's output k is the inclusive output one step earlier in scan order.
    const array zero = zeros(one, g.dtype());
    g = reverse_ ? concatenate({zero, take_range(g, 0, n - 1)}, -1) : concatenate({take_range(g, 1, n), zero}, -1);
  }
  const array hits = astype(equal(expand_dims(source, -1), pos), g.dtype());
  const array grad = sum(multiply(expand_dims(g, -1), hits), -2);
  return {moveaxis(grad, -1, axis_)};
}

}  // namespace tessera
