// Indexing: take, take/put along an axis, gather and scatter_add.
#include "core/primitives/indexing.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

void check_indices(const array& indices, const char* op) {
  if (!is_integral(indices.dtype())) {
    throw std::invalid_argument(std::string("[") + op + "] Indices must be integers, got " +
                                to_string(indices.dtype()) + ".");
  }
}

void check_not_scalar(const array& a, const char* op) {
  if (a.ndim() == 0) throw std::invalid_argument(std::string("[") + op + "] Cannot index a 0-dimensional array.");
}

std::vector<array> broadcast_indices(const std::vector<array>& indices, const char* op, StreamOrDevice s) {
  for (const auto& i : indices) check_indices(i, op);
  if (indices.size() < 2) return indices;
  return broadcast_arrays(indices, s);
}

// a and indices broadcast against each other on every axis but `axis`.
std::pair<Shape, Shape> along_axis_shapes(const array& a, const array& indices, int axis, const char* op) {
  if (a.ndim() != indices.ndim()) {
    throw std::invalid_argument(std::string("[") + op + "] Indices of shape " + shape_to_string(indices.shape()) +
                                " must have the same number of dimensions as the array of shape " +
                                shape_to_string(a.shape()) + ".");
  }
  Shape a_other = a.shape(), i_other = indices.shape();
  a_other[axis] = 1;
  i_other[axis] = 1;
  Shape common;
  try {
    common = broadcast_shapes(a_other, i_other);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(std::string("[") + op + "] Indices of shape " + shape_to_string(indices.shape()) +
                                " do not broadcast with the array of shape " + shape_to_string(a.shape()) + ".");
  }
  Shape a_shape = common, i_shape = common;
  a_shape[axis] = a.shape(axis);
  i_shape[axis] = indices.shape(axis);
  return {a_shape, i_shape};
}

void check_nonempty_axis(const array& a, int axis, const array& indices, const char* op) {
  if (a.shape(axis) == 0 && indices.size() > 0) {
    throw std::out_of_range(std::string("[") + op + "] Cannot index axis " + std::to_string(axis) +
                            " of size 0 (array of shape " + shape_to_string(a.shape()) + ").");
  }
}

}  // namespace

array take(const array& a, const array& indices, int axis_in, StreamOrDevice s) {
  check_not_scalar(a, "take");
  check_indices(indices, "take");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), "take");
  check_nonempty_axis(a, axis, indices, "take");
  Shape out_shape(a.shape().begin(), a.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), a.shape().begin() + axis + 1, a.shape().end());
  return array(out_shape, a.dtype(), std::make_shared<Take>(to_device(s, "take"), axis), {a, indices});
}

array take(const array& a, const array& indices, StreamOrDevice s) {
  return take(reshape(a, {-1}, s), indices, 0, s);
}

array take_along_axis(const array& a, const array& indices, int axis_in, StreamOrDevice s) {
  check_not_scalar(a, "take_along_axis");
  check_indices(indices, "take_along_axis");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), "take_along_axis");
  auto [a_shape, i_shape] = along_axis_shapes(a, indices, axis, "take_along_axis");
  check_nonempty_axis(a, axis, indices, "take_along_axis");
  const array ab = a.shape() == a_shape ? a : broadcast_to(a, a_shape, s);
  const array ib = indices.shape() == i_shape ? indices : broadcast_to(indices, i_shape, s);
  return array(i_shape, a.dtype(), std::make_shared<TakeAlongAxis>(to_device(s, "take_along_axis"), axis), {ab, ib});
}

array put_along_axis(const array& a, const array& indices, const array& values, int axis_in, StreamOrDevice s) {
  check_not_scalar(a, "put_along_axis");
  check_indices(indices, "put_along_axis");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), "put_along_axis");
  auto [a_shape, i_shape] = along_axis_shapes(a, indices, axis, "put_along_axis");
  if (a_shape != a.shape()) {
    throw std::invalid_argument("[put_along_axis] Indices of shape " + shape_to_string(indices.shape()) +
                                " would broadcast the array of shape " + shape_to_string(a.shape()) + ".");
  }
  const array ib = indices.shape() == i_shape ? indices : broadcast_to(indices, i_shape, s);
  array vb = astype(values, a.dtype(), s);
  try {
    vb = broadcast_to(vb, i_shape, s);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("[put_along_axis] Values of shape " + shape_to_string(values.shape()) +
                                " do not broadcast to the indices' shape " + shape_to_string(i_shape) + ".");
  }
  return array(a.shape(), a.dtype(), std::make_shared<PutAlongAxis>(to_device(s, "put_along_axis"), axis, false),
               {a, ib, vb});
}

array gather(const array& a, const std::vector<array>& indices_in, const std::vector<int>& axes_in,
             const Shape& slice_sizes, StreamOrDevice s) {
  check_not_scalar(a, "gather");
  if (indices_in.size() != axes_in.size()) {
    throw std::invalid_argument("[gather] Got " + std::to_string(indices_in.size()) + " index arrays for " +
                                std::to_string(axes_in.size()) + " axes.");
  }
  const auto axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), "gather");
  if (slice_sizes.size() != a.ndim()) {
    throw std::invalid_argument("[gather] Slice sizes " + shape_to_string(slice_sizes) + " must have one entry per axis of " +
                                shape_to_string(a.shape()) + ".");
  }
  for (size_t d = 0; d < a.ndim(); ++d) {
    if (slice_sizes[d] < 0 || slice_sizes[d] > a.shape(static_cast<int>(d))) {
      throw std::invalid_argument("[gather] Slice sizes " + shape_to_string(slice_sizes) +
                                  " must be between 0 and the array shape " + shape_to_string(a.shape()) + ".");
    }
  }
  const auto indices = broadcast_indices(indices_in, "gather", s);
  for (size_t k = 0; k < axes.size(); ++k) check_nonempty_axis(a, axes[k], indices[k], "gather");
  Shape out_shape = indices.empty() ? Shape{} : indices[0].shape();
  out_shape.insert(out_shape.end(), slice_sizes.begin(), slice_sizes.end());
  std::vector<array> inputs{a};
  inputs.insert(inputs.end(), indices.begin(), indices.end());
  return array(out_shape, a.dtype(), std::make_shared<Gather>(to_device(s, "gather"), axes, slice_sizes), inputs);
}

array scatter_add(const array& a, const std::vector<array>& indices_in, const array& updates,
                  const std::vector<int>& axes_in, StreamOrDevice s) {
  check_not_scalar(a, "scatter_add");
  if (indices_in.size() != axes_in.size()) {
    throw std::invalid_argument("[scatter_add] Got " + std::to_string(indices_in.size()) + " index arrays for " +
                                std::to_string(axes_in.size()) + " axes.");
  }
  const auto axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), "scatter_add");
  const auto indices = broadcast_indices(indices_in, "scatter_add", s);
  const Shape idx_shape = indices.empty() ? Shape{} : indices[0].shape();
  bool ok = updates.ndim() == idx_shape.size() + a.ndim();
  for (size_t d = 0; ok && d < idx_shape.size(); ++d) ok = updates.shape(static_cast<int>(d)) == idx_shape[d];
  for (size_t d = 0; ok && d < a.ndim(); ++d) {
    ok = updates.shape(static_cast<int>(idx_shape.size() + d)) <= a.shape(static_cast<int>(d));
  }
  if (!ok) {
    throw std::invalid_argument("[scatter_add] Updates of shape " + shape_to_string(updates.shape()) +
                                " must be the indices' shape " + shape_to_string(idx_shape) +
                                " followed by a slice of the array of shape " + shape_to_string(a.shape()) + ".");
  }
  std::vector<array> inputs{a};
  inputs.insert(inputs.end(), indices.begin(), indices.end());
  inputs.push_back(astype(updates, a.dtype(), s));
  return array(a.shape(), a.dtype(), std::make_shared<ScatterAdd>(to_device(s, "scatter_add"), axes), inputs);
}

}  // namespace tessera
