#include "backend/cpu/indexing.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"

namespace tessera::cpu {
namespace {

std::vector<int64_t> load_indices(Dtype dtype, const void* src, int64_t n) {
  std::vector<int64_t> out(n);
  dispatch_integer(dtype, [&](auto tag) {
    using I = typename decltype(tag)::type;
    const I* p = static_cast<const I*>(src);
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(p[i]);
  });
  return out;
}

int64_t wrap(int64_t i, int64_t size) { return i < 0 ? i + size : i; }

int64_t clamp_index(int64_t i, int64_t size) { return std::clamp<int64_t>(wrap(i, size), 0, size - 1); }

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (auto x : v) p *= x;
  return p;
}

std::vector<int64_t> row_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

template <typename T>
void add_into(T* dst, const T* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>) dst[i] = dst[i] || src[i];
    else if constexpr (std::is_integral_v<T>) dst[i] = static_cast<T>(dst[i] + src[i]);
    else dst[i] = from_f32<T>(to_f32(dst[i]) + to_f32(src[i]));
  }
}

// Visits the start offset (in `shape`'s row-major buffer) of each contiguous run of a block of
// `slice_sizes` elements; runs are slice_sizes.back() long.
template <typename F>
void for_each_block_row(const std::vector<int64_t>& strides, const std::vector<int64_t>& slice_sizes, int64_t base,
                        F&& f) {
  std::vector<int64_t> outer(slice_sizes.begin(), slice_sizes.end() - 1);
  std::vector<int64_t> outer_strides(strides.begin(), strides.end() - 1);
  const int64_t rows = product(outer);
  StridedWalker w(outer, outer_strides);
  for (int64_t r = 0; r < rows; ++r, w.next()) f(r, base + w.offset());
}

}  // namespace

void take_axis(Dtype dtype, const void* a, int64_t outer, int64_t axis_size, int64_t inner, Dtype index_dtype,
               const void* indices, int64_t n, void* out) {
  if (outer * n * inner == 0) return;
  const auto idx = load_indices(index_dtype, indices, n);
  const size_t item = size_of(dtype);
  const char* src = static_cast<const char*>(a);
  char* dst = static_cast<char*>(out);
  const size_t row = inner * item;
  parallel_chunks(outer * n, 65536 / (row + 1) + 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t o = p / n, i = p % n;
      std::memcpy(dst + p * row, src + (o * axis_size + clamp_index(idx[i], axis_size)) * row, row);
    }
  });
}

void take_along_axis(Dtype dtype, const void* a, int64_t outer, int64_t axis_size, int64_t inner,
                     Dtype index_dtype, const void* indices, int64_t n, void* out) {
  if (outer * n * inner == 0) return;
  const auto idx = load_indices(index_dtype, indices, outer * n * inner);
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = static_cast<const T*>(a);
    T* dst = static_cast<T*>(out);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) {
          const int64_t p = (o * n + i) * inner + j;
          dst[p] = src[(o * axis_size + clamp_index(idx[p], axis_size)) * inner + j];
        }
  });
}

void put_along_axis(Dtype dtype, void* out, int64_t outer, int64_t axis_size, int64_t inner, Dtype index_dtype,
                    const void* indices, int64_t n, const void* values, bool accumulate) {
  if (outer * n * inner == 0) return;
  const auto idx = load_indices(index_dtype, indices, outer * n * inner);
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* val = static_cast<const T*>(values);
    T* dst = static_cast<T*>(out);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) {
          const int64_t p = (o * n + i) * inner + j;
          const int64_t k = wrap(idx[p], axis_size);
          if (k < 0 || k >= axis_size) continue;
          T* target = dst + (o * axis_size + k) * inner + j;
          if (accumulate) add_into(target, val + p, 1);
          else *target = val[p];
        }
  });
}

void gather(Dtype dtype, const void* a, const std::vector<int64_t>& shape, const std::vector<const void*>& indices,
            Dtype index_dtype, int64_t n_index, const std::vector<int>& axes, const std::vector<int64_t>& slice_sizes,
            void* out) {
  const int64_t block = product(slice_sizes);
  if (n_index == 0 || block == 0) return;
  std::vector<std::vector<int64_t>> idx;
  for (auto p : indices) idx.push_back(load_indices(index_dtype, p, n_index));
  const auto strides = row_strides(shape);
  const size_t item = size_of(dtype);
  const size_t run = slice_sizes.back() * item;
  const char* src = static_cast<const char*>(a);
  char* dst = static_cast<char*>(out);
  parallel_chunks(n_index, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      int64_t base = 0;
      for (size_t k = 0; k < axes.size(); ++k) {
        const int d = axes[k];
        const int64_t start = std::clamp<int64_t>(wrap(idx[k][p], shape[d]), 0, shape[d] - slice_sizes[d]);
        base += start * strides[d];
      }
      char* out_block = dst + p * block * item;
      for_each_block_row(strides, slice_sizes, base, [&](int64_t r, int64_t offset) {
        std::memcpy(out_block + r * run, src + offset * item, run);
      });
    }
  });
}

void scatter_add(Dtype dtype, void* out, const std::vector<int64_t>& shape, const std::vector<const void*>& indices,
                 Dtype index_dtype, int64_t n_index, const std::vector<int>& axes,
                 const std::vector<int64_t>& slice_sizes, const void* updates) {
  const int64_t block = product(slice_sizes);
  if (n_index == 0 || block == 0) return;
  std::vector<std::vector<int64_t>> idx;
  for (auto p : indices) idx.push_back(load_indices(index_dtype, p, n_index));
  const auto strides = row_strides(shape);
  const int64_t run = slice_sizes.back();
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = static_cast<T*>(out);
    const T* upd = static_cast<const T*>(updates);
    for (int64_t p = 0; p < n_index; ++p) {
      int64_t base = 0;
      bool inside = true;
      for (size_t k = 0; k < axes.size(); ++k) {
        const int d = axes[k];
        const int64_t start = wrap(idx[k][p], shape[d]);
        inside = inside && start >= 0 && start + slice_sizes[d] <= shape[d];
        base += start * strides[d];
      }
      if (!inside) continue;
      const T* src_block = upd + p * block;
      for_each_block_row(strides, slice_sizes, base,
                         [&](int64_t r, int64_t offset) { add_into(dst + offset, src_block + r * run, run); });
    }
  });
}

}  // namespace tessera::cpu
