// Walking N-dimensional strided operands row by row.
//
// Kernels see an operation over K operands of one logical shape as a list of innermost rows:
// adjacent axes that are contiguous in every operand are merged first, so a row-contiguous
// operation is one long row and a broadcast bias add is (rows x length) with a zero stride.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "tessera/dtype.h"

namespace tessera::cpu {

template <int K>
struct StridedLayout {
  Shape shape;                     // at least one axis
  std::array<Strides, K> strides;  // per operand, in elements

  int64_t row_length() const { return shape.back(); }
  int64_t num_rows() const {
    int64_t n = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
    return n;
  }
  int64_t row_stride(int k) const { return strides[k].back(); }
};

template <int K>
StridedLayout<K> collapse_layout(const Shape& shape, const std::array<const Strides*, K>& strides) {
  StridedLayout<K> out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;  // size-1 axes never move the offsets
    bool merge = !out.shape.empty();
    for (int k = 0; k < K && merge; ++k) {
      merge = out.strides[k].back() == (*strides[k])[i] * shape[i];
    }
    if (merge) {
      out.shape.back() *= shape[i];
      for (int k = 0; k < K; ++k) out.strides[k].back() = (*strides[k])[i];
    } else {
      out.shape.push_back(shape[i]);
      for (int k = 0; k < K; ++k) out.strides[k].push_back((*strides[k])[i]);
    }
  }
  if (out.shape.empty()) {
    out.shape.push_back(1);
    for (int k = 0; k < K; ++k) out.strides[k].push_back(0);
  }
  return out;
}

// Calls fn(offsets, length, row_strides) for rows [begin, end) of the layout, where offsets[k] is
// the element offset of the row's first element in operand k.
template <int K, typename F>
void for_each_row(const StridedLayout<K>& layout, int64_t begin, int64_t end, F&& fn) {
  const int outer = static_cast<int>(layout.shape.size()) - 1;
  std::array<int64_t, K> row_strides;
  for (int k = 0; k < K; ++k) row_strides[k] = layout.strides[k].back();
  const int64_t n = layout.shape.back();
  if (outer == 0) {
    if (begin < end) fn(std::array<int64_t, K>{}, n, row_strides);
    return;
  }
  std::vector<int64_t> idx(outer, 0);
  std::array<int64_t, K> offsets{};
  int64_t rem = begin;
  for (int d = outer - 1; d >= 0; --d) {
    idx[d] = rem % layout.shape[d];
    rem /= layout.shape[d];
    for (int k = 0; k < K; ++k) offsets[k] += idx[d] * layout.strides[k][d];
  }
  for (int64_t r = begin; r < end; ++r) {
    fn(offsets, n, row_strides);
    for (int d = outer - 1; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < K; ++k) offsets[k] += layout.strides[k][d];
      if (idx[d] < layout.shape[d]) break;
      for (int k = 0; k < K; ++k) offsets[k] -= idx[d] * layout.strides[k][d];
      idx[d] = 0;
    }
  }
}

}  // namespace tessera::cpu
