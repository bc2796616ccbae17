#include "backend/cpu/copy.h"

#include <cstring>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/float_blocks.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/thread_pool.h"
#include "core/allocator.h"
#include "core/dtype_dispatch.h"
#include "core/utils.h"

namespace tessera::cpu {

namespace {

// A transposed copy (source contiguous along the second-to-last axis, destination along the
// last) goes through 16x16 tiles, so both sides touch whole cache lines.
template <typename In, typename Out>
bool copy_transposed(const In* src, Out* dst, const StridedLayout<2>& layout) {
  const size_t nd = layout.shape.size();
  if (nd < 2 || layout.strides[0][nd - 2] != 1 || layout.strides[0][nd - 1] == 1 || layout.strides[1][nd - 1] != 1 ||
      layout.shape[nd - 1] < 32 || layout.shape[nd - 2] < 32) {
    return false;
  }
  constexpr int64_t kTile = 16;
  StridedLayout<2> outer;
  outer.shape.assign(layout.shape.begin(), layout.shape.end() - 1);
  for (int k = 0; k < 2; ++k) outer.strides[k].assign(layout.strides[k].begin(), layout.strides[k].end() - 1);
  const int64_t rows = layout.shape[nd - 2], cols = layout.shape[nd - 1];
  const int64_t src_col = layout.strides[0][nd - 1], dst_row = layout.strides[1][nd - 2];
  const int64_t tiles = (rows + kTile - 1) / kTile;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i0 = (t % tiles) * kTile;
      for_each_row(outer, t / tiles, t / tiles + 1, [&](const auto& off, int64_t, const auto&) {
        const int64_t i1 = std::min(rows, i0 + kTile);
        for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
          const int64_t j1 = std::min(cols, j0 + kTile);
          for (int64_t i = i0; i < i1; ++i) {
            const In* s = src + off[0] + i;
            Out* d = dst + off[1] + i * dst_row;
            for (int64_t j = j0; j < j1; ++j) d[j] = cast_to<Out>(s[j * src_col]);
          }
        }
      });
    }
  };
  const int64_t tasks = outer.num_rows() * tiles;
  if (rows * cols * outer.num_rows() >= kParallelGrain && tasks > 1) {
    parallel_for(tasks, 1, run);
  } else {
    run(0, tasks);
  }
  return true;
}

// A contiguous copy collapses to a single row: split it into pieces over the threads (a 2.5 GB
// copy took 1.3 s on one thread).
template <typename T>
bool copy_one_long_row(const T* src, T* dst, const StridedLayout<2>& layout) {
  const int64_t n = layout.row_length();
  const bool unit = layout.row_stride(0) == 1 && layout.row_stride(1) == 1;
  if (layout.num_rows() != 1 || n < kParallelGrain || !unit) return false;
  constexpr int64_t kPieceBytes = int64_t{1} << 20;
  const int64_t piece = std::max<int64_t>(1, kPieceBytes / static_cast<int64_t>(sizeof(T)));
  parallel_for(n, piece, [&](int64_t begin, int64_t end) { std::memcpy(dst + begin, src + begin, (end - begin) * sizeof(T)); });
  return true;
}

template <typename In, typename Out>
void copy_rows(const In* src, Out* dst, const StridedLayout<2>& layout) {
  if (copy_transposed(src, dst, layout)) return;
  if constexpr (std::is_same_v<In, Out>) {
    if (copy_one_long_row(src, dst, layout)) return;
  }
  auto rows = [&](int64_t begin, int64_t end) {
    for_each_row(layout, begin, end, [&](const auto& off, int64_t n, const auto& st) {
      const In* s = src + off[0];
      Out* d = dst + off[1];
      if (st[0] == 1 && st[1] == 1) {
        if constexpr (std::is_same_v<In, Out>) {
          std::memcpy(d, s, n * sizeof(In));
        } else if constexpr (std::is_same_v<In, float> && is_half_v<Out>) {
          narrow(s, d, n);
        } else if constexpr (is_half_v<In> && std::is_same_v<Out, float>) {
          widen(s, d, n);
        } else {
          for (int64_t i = 0; i < n; ++i) d[i] = cast_to<Out>(s[i]);
        }
      } else if (st[0] == 0) {
        Out v = cast_to<Out>(s[0]);
        for (int64_t i = 0; i < n; ++i) d[i * st[1]] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * st[1]] = cast_to<Out>(s[i * st[0]]);
      }
    });
  };
  int64_t total = layout.num_rows() * layout.row_length();
  if (total >= kParallelGrain && layout.num_rows() > 1) {
    int64_t grain = std::max<int64_t>(1, kParallelGrain / layout.row_length());
    parallel_for(layout.num_rows(), grain, rows);
  } else {
    rows(0, layout.num_rows());
  }
}

void copy_layout(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, const StridedLayout<2>& layout) {
  dispatch_dtype(src_dtype, [&](auto in_tag) {
    using In = typename decltype(in_tag)::type;
    dispatch_dtype(dst_dtype, [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      copy_rows(static_cast<const In*>(src), static_cast<Out*>(dst), layout);
    });
  });
}

}  // namespace

void copy_to_contiguous(const array& src, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  // Row-major order is the same for any shape of the same size, so out may be a reshape of src.
  Strides out_strides = row_major_strides(src.shape());
  auto layout = collapse_layout<2>(src.shape(), {&src.strides(), &out_strides});
  copy_layout(src.data<void>(), src.dtype(), out.data<void>(), out.dtype(), layout);
}

void copy_region(const array& src, const Strides& src_strides, array& dst, const Shape& shape,
                 const Strides& dst_strides, int64_t dst_offset) {
  if (shape_size(shape) == 0) return;
  auto layout = collapse_layout<2>(shape, {&src_strides, &dst_strides});
  char* d = static_cast<char*>(dst.data<void>()) + dst_offset * static_cast<int64_t>(dst.itemsize());
  copy_layout(src.data<void>(), src.dtype(), d, dst.dtype(), layout);
}

void fill(array& dst, const array& value, size_t n) {
  dispatch_dtype(value.dtype(), [&](auto in_tag) {
    using In = typename decltype(in_tag)::type;
    dispatch_dtype(dst.dtype(), [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      Out v = cast_to<Out>(*value.data<In>());
      Out* d = dst.data<Out>();
      for (size_t i = 0; i < n; ++i) d[i] = v;
    });
  });
}

}  // namespace tessera::cpu
