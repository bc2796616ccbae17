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

template <typename In, typename Out>
void copy_rows(const In* src, Out* dst, const StridedLayout<2>& layout) {
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
