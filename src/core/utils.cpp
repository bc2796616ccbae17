#include "core/utils.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace tessera {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Strides row_major_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

array::Flags flags_for(const Shape& shape, const Strides& strides, size_t data_size) {
  array::Flags f;
  int64_t size = shape_size(shape);
  int64_t expect = 1;
  f.row_contiguous = true;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expect) {
      f.row_contiguous = false;
      break;
    }
    expect *= shape[i];
  }
  expect = 1;
  f.col_contiguous = true;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expect) {
      f.col_contiguous = false;
      break;
    }
    expect *= shape[i];
  }
  if (size == 0) {
    f.row_contiguous = f.col_contiguous = true;
  }
  // Dense in some axis order: the strides, sorted, are the row-major strides of the sorted shape.
  f.contiguous = f.row_contiguous || f.col_contiguous;
  if (!f.contiguous && static_cast<int64_t>(data_size) == size) {
    std::vector<int> order(shape.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return strides[a] < strides[b]; });
    int64_t e = 1;
    bool dense = true;
    for (int ax : order) {
      if (shape[ax] == 1) continue;
      if (strides[ax] != e) {
        dense = false;
        break;
      }
      e *= shape[ax];
    }
    f.contiguous = dense;
  }
  return f;
}

size_t span_of(const Shape& shape, const Strides& strides) {
  int64_t span = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return 0;
    span += (shape[i] - 1) * std::abs(strides[i]);
  }
  return static_cast<size_t>(span);
}

int normalize_axis(int axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) {
    throw std::out_of_range(std::string("[") + op + "] Axis " + std::to_string(axis) +
                            " is out of bounds for an array with " + std::to_string(ndim) + " dimensions.");
  }
  return axis < 0 ? axis + ndim : axis;
}

std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  out.reserve(axes.size());
  for (int a : axes) out.push_back(normalize_axis(a, ndim, op));
  std::vector<int> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    throw std::invalid_argument(std::string("[") + op + "] Received duplicate axes.");
  }
  return out;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

}  // namespace tessera
