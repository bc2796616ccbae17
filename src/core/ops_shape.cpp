// Shape, view and layout ops.
#include <algorithm>
#include <numeric>

#include "core/primitives/shape.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

std::string err(const char* op, const std::string& msg) { return std::string("[") + op + "] " + msg; }

int ndim_of(const array& a) { return static_cast<int>(a.ndim()); }

// Normalizes one axis of a slice the way Python does: negative indices count from the end,
// out-of-range bounds are clamped. Returns the number of elements selected.
int64_t normalize_slice_axis(int64_t dim, int64_t& start, int64_t& stop, int64_t step) {
  auto wrap = [dim](int64_t v) { return v < 0 ? v + dim : v; };
  start = wrap(start);
  stop = wrap(stop);
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    stop = std::clamp<int64_t>(stop, start, dim);
    return (stop - start + step - 1) / step;
  }
  start = std::clamp<int64_t>(start, -1, dim - 1);
  stop = std::clamp<int64_t>(stop, -1, start);
  return (start - stop - step - 1) / -step;
}

struct SliceSpec {
  Shape start, stop, strides, shape;
};

SliceSpec make_slice(const char* op, const array& a, Shape start, Shape stop, Shape strides) {
  const size_t n = a.ndim();
  if (start.size() != n || stop.size() != n || strides.size() != n) {
    throw std::invalid_argument(err(op, "Start, stop and strides must each have one entry per axis (" +
                                            std::to_string(n) + "), got " + std::to_string(start.size()) + ", " +
                                            std::to_string(stop.size()) + " and " + std::to_string(strides.size()) +
                                            "."));
  }
  SliceSpec spec{std::move(start), std::move(stop), std::move(strides), Shape(n)};
  for (size_t i = 0; i < n; ++i) {
    if (spec.strides[i] == 0) throw std::invalid_argument(err(op, "Slice strides cannot be 0."));
    spec.shape[i] = normalize_slice_axis(a.shape()[i], spec.start[i], spec.stop[i], spec.strides[i]);
  }
  return spec;
}

}  // namespace

array reshape(const array& a, Shape shape, StreamOrDevice s) {
  Device d = to_device(s, "reshape");
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("[reshape] Only one dimension can be -1.");
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw std::invalid_argument("[reshape] Invalid dimension " + std::to_string(shape[i]) + " in shape " +
                                  shape_to_string(shape) + ".");
    } else {
      known *= shape[i];
    }
  }
  const int64_t size = static_cast<int64_t>(a.size());
  if (infer >= 0) {
    if (known == 0 || size % known != 0) {
      throw std::invalid_argument("[reshape] Cannot infer the -1 dimension of shape " + shape_to_string(shape) +
                                  " for an array of size " + std::to_string(size) + ".");
    }
    shape[infer] = size / known;
    known *= shape[infer];
  }
  if (known != size) {
    throw std::invalid_argument("[reshape] Cannot reshape an array of shape " + shape_to_string(a.shape()) +
                                " (size " + std::to_string(size) + ") into shape " + shape_to_string(shape) + ".");
  }
  if (shape == a.shape()) return a;
  Shape out_shape = shape;
  return array(std::move(out_shape), a.dtype(), std::make_shared<Reshape>(d, std::move(shape)), {a});
}

array flatten(const array& a, int start_axis, int end_axis, StreamOrDevice s) {
  const int n = ndim_of(a);
  if (n == 0) return reshape(a, {1}, s);
  start_axis = normalize_axis(start_axis, n, "flatten");
  end_axis = normalize_axis(end_axis, n, "flatten");
  if (start_axis > end_axis) throw std::invalid_argument("[flatten] start_axis must not come after end_axis.");
  Shape shape(a.shape().begin(), a.shape().begin() + start_axis);
  int64_t merged = 1;
  for (int i = start_axis; i <= end_axis; ++i) merged *= a.shape()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), a.shape().begin() + end_axis + 1, a.shape().end());
  return reshape(a, std::move(shape), s);
}

array transpose(const array& a, std::vector<int> axes, StreamOrDevice s) {
  Device d = to_device(s, "transpose");
  const int n = ndim_of(a);
  if (static_cast<int>(axes.size()) != n) {
    throw std::invalid_argument("[transpose] Received " + std::to_string(axes.size()) +
                                " axes for an array with " + std::to_string(n) + " dimensions.");
  }
  axes = normalize_axes(axes, n, "transpose");
  bool identity = true;
  Shape shape(n);
  for (int i = 0; i < n; ++i) {
    shape[i] = a.shape()[axes[i]];
    identity &= axes[i] == i;
  }
  if (identity) return a;
  return array(std::move(shape), a.dtype(), std::make_shared<Transpose>(d, std::move(axes)), {a});
}

array transpose(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, std::move(axes), s);
}

array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s) {
  const int n = ndim_of(a);
  axis1 = normalize_axis(axis1, n, "swapaxes");
  axis2 = normalize_axis(axis2, n, "swapaxes");
  std::vector<int> axes(n);
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[axis1], axes[axis2]);
  return transpose(a, std::move(axes), s);
}

array moveaxis(const array& a, int source, int destination, StreamOrDevice s) {
  const int n = ndim_of(a);
  source = normalize_axis(source, n, "moveaxis");
  destination = normalize_axis(destination, n, "moveaxis");
  std::vector<int> axes;
  for (int i = 0; i < n; ++i) {
    if (i != source) axes.push_back(i);
  }
  axes.insert(axes.begin() + destination, source);
  return transpose(a, std::move(axes), s);
}

array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  std::vector<int> norm = normalize_axes(axes, ndim_of(a), "squeeze");
  Shape shape;
  for (int i = 0; i < ndim_of(a); ++i) {
    if (std::find(norm.begin(), norm.end(), i) != norm.end()) {
      if (a.shape()[i] != 1) {
        throw std::invalid_argument("[squeeze] Cannot squeeze axis " + std::to_string(i) + " of size " +
                                    std::to_string(a.shape()[i]) + ".");
      }
      continue;
    }
    shape.push_back(a.shape()[i]);
  }
  return reshape(a, std::move(shape), s);
}

array squeeze(const array& a, int axis, StreamOrDevice s) { return squeeze(a, std::vector<int>{axis}, s); }

array squeeze(const array& a, StreamOrDevice s) {
  Shape shape;
  for (auto d : a.shape()) {
    if (d != 1) shape.push_back(d);
  }
  return reshape(a, std::move(shape), s);
}

array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  const int out_ndim = ndim_of(a) + static_cast<int>(axes.size());
  std::vector<int> norm = normalize_axes(axes, out_ndim, "expand_dims");
  Shape shape(out_ndim, 1);
  size_t src = 0;
  for (int i = 0; i < out_ndim; ++i) {
    if (std::find(norm.begin(), norm.end(), i) == norm.end()) shape[i] = a.shape()[src++];
  }
  return reshape(a, std::move(shape), s);
}

array expand_dims(const array& a, int axis, StreamOrDevice s) { return expand_dims(a, std::vector<int>{axis}, s); }

array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s) {
  Device d = to_device(s, "broadcast_to");
  if (a.shape() == shape) return a;
  bool ok = shape.size() >= a.ndim();
  for (size_t i = 0; ok && i < a.ndim(); ++i) {
    int64_t da = a.shape()[i];
    int64_t ds = shape[shape.size() - a.ndim() + i];
    ok = da == ds || da == 1;
  }
  for (auto n : shape) ok = ok && n >= 0;
  if (!ok) {
    throw std::invalid_argument("[broadcast_to] Cannot broadcast an array of shape " + shape_to_string(a.shape()) +
                                " to shape " + shape_to_string(shape) + ".");
  }
  return array(shape, a.dtype(), std::make_shared<Broadcast>(d, shape), {a});
}

std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s) {
  Shape shape;
  for (const auto& a : inputs) {
    try {
      shape = broadcast_shapes(shape, a.shape());
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("[broadcast_arrays] Shapes " + shape_to_string(shape) + " and " +
                                  shape_to_string(a.shape()) + " cannot be broadcast.");
    }
  }
  std::vector<array> out;
  for (const auto& a : inputs) out.push_back(broadcast_to(a, shape, s));
  return out;
}

array concatenate(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  Device d = to_device(s, "concatenate");
  if (arrays.empty()) throw std::invalid_argument("[concatenate] No arrays to concatenate.");
  const int n = ndim_of(arrays[0]);
  if (n == 0) throw std::invalid_argument("[concatenate] Cannot concatenate scalars (0-dimensional arrays).");
  axis = normalize_axis(axis, n, "concatenate");
  Shape shape = arrays[0].shape();
  Dtype dtype = arrays[0].dtype();
  for (size_t k = 1; k < arrays.size(); ++k) {
    const array& a = arrays[k];
    bool ok = ndim_of(a) == n;
    for (int i = 0; ok && i < n; ++i) ok = i == axis || a.shape()[i] == shape[i];
    if (!ok) {
      throw std::invalid_argument("[concatenate] All arrays must have the same shape except along axis " +
                                  std::to_string(axis) + "; got " + shape_to_string(arrays[0].shape()) + " and " +
                                  shape_to_string(a.shape()) + ".");
    }
    shape[axis] += a.shape()[axis];
    dtype = promote_types(dtype, a.dtype());
  }
  if (arrays.size() == 1) return arrays[0];
  std::vector<array> inputs;
  for (const auto& a : arrays) inputs.push_back(astype(a, dtype, d));
  return array(std::move(shape), dtype, std::make_shared<Concatenate>(d, axis), std::move(inputs));
}

array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  if (arrays.empty()) throw std::invalid_argument("[stack] No arrays to stack.");
  for (const auto& a : arrays) {
    if (a.shape() != arrays[0].shape()) {
      throw std::invalid_argument("[stack] All arrays must have the same shape; got " +
                                  shape_to_string(arrays[0].shape()) + " and " + shape_to_string(a.shape()) + ".");
    }
  }
  axis = normalize_axis(axis, ndim_of(arrays[0]) + 1, "stack");
  std::vector<array> expanded;
  for (const auto& a : arrays) expanded.push_back(expand_dims(a, axis, s));
  if (expanded.size() == 1) return expanded[0];
  return concatenate(expanded, axis, s);
}

std::vector<array> split(const array& a, const Shape& indices, int axis, StreamOrDevice s) {
  axis = normalize_axis(axis, ndim_of(a), "split");
  const int64_t dim = a.shape()[axis];
  std::vector<array> out;
  int64_t prev = 0;
  for (size_t i = 0; i <= indices.size(); ++i) {
    int64_t next = i < indices.size() ? std::clamp<int64_t>(indices[i], 0, dim) : dim;
    if (i < indices.size() && indices[i] < prev) {
      throw std::invalid_argument("[split] Split indices must be increasing.");
    }
    Shape start(a.ndim(), 0), stop = a.shape();
    start[axis] = prev;
    stop[axis] = std::max(prev, next);
    out.push_back(slice(a, start, stop, s));
    prev = std::max(prev, next);
  }
  return out;
}

std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s) {
  axis = normalize_axis(axis, ndim_of(a), "split");
  const int64_t dim = a.shape()[axis];
  if (num_splits <= 0 || dim % num_splits != 0) {
    throw std::invalid_argument("[split] Axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                                " cannot be split into " + std::to_string(num_splits) + " equal parts.");
  }
  Shape indices;
  for (int i = 1; i < num_splits; ++i) indices.push_back(i * (dim / num_splits));
  return split(a, indices, axis, s);
}

array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad, const Shape& high_pad,
          const array& pad_value, StreamOrDevice s) {
  Device d = to_device(s, "pad");
  if (axes.size() != low_pad.size() || axes.size() != high_pad.size()) {
    throw std::invalid_argument("[pad] axes, low_pad and high_pad must have the same length.");
  }
  if (pad_value.size() != 1) throw std::invalid_argument("[pad] The pad value must be a scalar.");
  std::vector<int> norm = normalize_axes(axes, ndim_of(a), "pad");
  Shape low(a.ndim(), 0), high(a.ndim(), 0), shape = a.shape();
  for (size_t i = 0; i < norm.size(); ++i) {
    if (low_pad[i] < 0 || high_pad[i] < 0) {
      throw std::invalid_argument("[pad] Pad widths must be non-negative, got (" + std::to_string(low_pad[i]) +
                                  ", " + std::to_string(high_pad[i]) + ") for axis " + std::to_string(norm[i]) + ".");
    }
    low[norm[i]] = low_pad[i];
    high[norm[i]] = high_pad[i];
    shape[norm[i]] += low_pad[i] + high_pad[i];
  }
  array value = astype(reshape(pad_value, {}, s), a.dtype(), d);
  return array(std::move(shape), a.dtype(), std::make_shared<Pad>(d, std::move(low), std::move(high)), {a, value});
}

array pad(const array& a, int pad_width, const array& pad_value, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  Shape widths(a.ndim(), pad_width);
  return pad(a, axes, widths, widths, pad_value, s);
}

array pad(const array& a, const std::vector<std::pair<int64_t, int64_t>>& widths, const array& pad_value,
          StreamOrDevice s) {
  if (widths.size() != a.ndim()) {
    throw std::invalid_argument("[pad] Expected one (low, high) pair per axis (" + std::to_string(a.ndim()) +
                                "), got " + std::to_string(widths.size()) + ".");
  }
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  Shape low, high;
  for (const auto& [l, h] : widths) {
    low.push_back(l);
    high.push_back(h);
  }
  return pad(a, axes, low, high, pad_value, s);
}

array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  Device d = to_device(s, "slice");
  SliceSpec spec = make_slice("slice", a, std::move(start), std::move(stop), std::move(strides));
  if (spec.shape == a.shape()) {
    bool whole = true;
    for (size_t i = 0; i < a.ndim(); ++i) whole &= spec.strides[i] == 1;
    if (whole) return a;
  }
  Shape shape = spec.shape;
  return array(std::move(shape), a.dtype(),
               std::make_shared<Slice>(d, std::move(spec.start), std::move(spec.stop), std::move(spec.strides)), {a});
}

array slice(const array& a, Shape start, Shape stop, StreamOrDevice s) {
  Shape strides(a.ndim(), 1);
  return slice(a, std::move(start), std::move(stop), std::move(strides), s);
}

array slice_update(const array& src, const array& update, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  Device d = to_device(s, "slice_update");
  SliceSpec spec = make_slice("slice_update", src, std::move(start), std::move(stop), std::move(strides));
  bool ok = update.ndim() <= src.ndim();
  for (size_t i = 0; ok && i < update.ndim(); ++i) {
    int64_t du = update.shape()[i];
    int64_t ds = spec.shape[spec.shape.size() - update.ndim() + i];
    ok = du == ds || du == 1;
  }
  if (!ok) {
    throw std::invalid_argument("[slice_update] An update of shape " + shape_to_string(update.shape()) +
                                " does not broadcast to the slice shape " + shape_to_string(spec.shape) + ".");
  }
  return array(src.shape(), src.dtype(),
               std::make_shared<SliceUpdate>(d, std::move(spec.start), std::move(spec.stop), std::move(spec.strides)),
               {src, astype(update, src.dtype(), d)});
}

array slice_update(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s) {
  Shape strides(src.ndim(), 1);
  return slice_update(src, update, std::move(start), std::move(stop), std::move(strides), s);
}

array tril(const array& a, int k, StreamOrDevice s) {
  if (a.ndim() < 2) throw std::invalid_argument("[tril] The array must have at least 2 dimensions.");
  array mask = tri(static_cast<int>(a.shape(-2)), static_cast<int>(a.shape(-1)), k, bool_, s);
  return where(mask, a, zeros({}, a.dtype(), s), s);
}

array triu(const array& a, int k, StreamOrDevice s) {
  if (a.ndim() < 2) throw std::invalid_argument("[triu] The array must have at least 2 dimensions.");
  array mask = tri(static_cast<int>(a.shape(-2)), static_cast<int>(a.shape(-1)), k - 1, bool_, s);
  return where(mask, zeros({}, a.dtype(), s), a, s);
}

array tile(const array& a, Shape reps, StreamOrDevice s) {
  for (auto r : reps) {
    if (r < 0) throw std::invalid_argument("[tile] Repetitions must be non-negative.");
  }
  const size_t n = std::max(reps.size(), a.ndim());
  Shape shape(n - a.ndim(), 1);
  shape.insert(shape.end(), a.shape().begin(), a.shape().end());
  reps.insert(reps.begin(), n - reps.size(), 1);
  // View a as (1, d0, 1, d1, ...), broadcast to (r0, d0, r1, d1, ...) and merge each pair.
  Shape expanded, broadcast, final_shape;
  for (size_t i = 0; i < n; ++i) {
    expanded.insert(expanded.end(), {1, shape[i]});
    broadcast.insert(broadcast.end(), {reps[i], shape[i]});
    final_shape.push_back(reps[i] * shape[i]);
  }
  return reshape(broadcast_to(reshape(a, expanded, s), broadcast, s), final_shape, s);
}

array repeat(const array& a, int repeats, int axis, StreamOrDevice s) {
  if (repeats < 0) throw std::invalid_argument("[repeat] The number of repeats must be non-negative.");
  axis = normalize_axis(axis, ndim_of(a), "repeat");
  Shape expanded = a.shape();
  expanded.insert(expanded.begin() + axis + 1, 1);
  Shape broadcast = expanded;
  broadcast[axis + 1] = repeats;
  Shape final_shape = a.shape();
  final_shape[axis] *= repeats;
  return reshape(broadcast_to(reshape(a, expanded, s), broadcast, s), final_shape, s);
}

array repeat(const array& a, int repeats, StreamOrDevice s) { return repeat(flatten(a, 0, -1, s), repeats, 0, s); }

array one_hot(const array& indices, int num_classes, Dtype dtype, StreamOrDevice s) {
  if (!is_integral(indices.dtype())) {
    throw std::invalid_argument("[one_hot] Indices must be integers, got " + to_string(indices.dtype()) + ".");
  }
  if (num_classes < 0) throw std::invalid_argument("[one_hot] num_classes must be non-negative.");
  array classes = arange(0.0, num_classes, 1.0, indices.dtype(), s);
  return astype(equal(expand_dims(indices, -1, s), classes, s), dtype, s);
}

array as_strided(const array& a, Shape shape, Strides strides, int64_t offset, StreamOrDevice s) {
  Device d = to_device(s, "as_strided");
  if (shape.size() != strides.size()) {
    throw std::invalid_argument("[as_strided] Shape and strides must have the same length.");
  }
  int64_t lo = offset, hi = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw std::invalid_argument("[as_strided] Negative dimension.");
    if (shape[i] == 0) {
      lo = hi = 0;
      break;
    }
    int64_t extent = (shape[i] - 1) * strides[i];
    (extent < 0 ? lo : hi) += extent;
  }
  if (lo < 0 || hi >= static_cast<int64_t>(a.size()) + (a.size() == 0 ? 1 : 0)) {
    if (!(shape_size(shape) == 0)) {
      throw std::out_of_range("[as_strided] The view reaches outside the array's " + std::to_string(a.size()) +
                              " elements.");
    }
  }
  return array(std::move(shape), a.dtype(), std::make_shared<AsStrided>(d, std::move(strides), offset),
               {contiguous(a, s)});
}

}  // namespace tessera
