#include "backend/cpu/elementwise.h"
#include "backend/cpu/elementwise_ops.h"
#include "backend/cpu/float_blocks.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/thread_pool.h"
#include "core/allocator.h"
#include "core/dtype_dispatch.h"
#include "core/utils.h"

namespace tessera::cpu {

Strides broadcast_strides(const array& a, const Shape& shape) {
  Strides st(shape.size(), 0);
  const size_t lead = shape.size() - a.ndim();
  for (size_t i = 0; i < a.ndim(); ++i) {
    st[lead + i] = a.shape()[i] == 1 ? 0 : a.strides()[i];
  }
  return st;
}

namespace {

// Runs rows(begin, end) over the rows of a layout, split across the pool for large work.
template <typename F>
void run_rows(int64_t num_rows, int64_t row_length, F&& rows) {
  if (num_rows * row_length >= kParallelGrain && num_rows > 1) {
    int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, row_length));
    parallel_for(num_rows, grain, rows);
  } else {
    rows(0, num_rows);
  }
}

// Takes over a dead input's buffer for the output when layouts and dtypes match.
bool donate_into(const array& in, array& out) {
  if (in.dtype() == out.dtype() && in.size() == out.size() && in.flags().row_contiguous && in.is_donatable()) {
    out.move_shared_buffer(in);
    return true;
  }
  return false;
}

// 16-bit float operands are widened block by block so the float32 loop vectorizes.
template <typename T, typename U, typename F>
void half_blocks(const T* pa, bool a_scalar, const T* pb, bool b_scalar, U* po, int64_t begin, int64_t end, F f) {
  float fa[kFloatBlock], fb[kFloatBlock], fo[kFloatBlock];
  const float va = static_cast<float>(pa[0]);
  const float vb = static_cast<float>(pb[0]);
  for (int64_t i = begin; i < end; i += kFloatBlock) {
    const int64_t m = std::min(kFloatBlock, end - i);
    if (!a_scalar) widen(pa + i, fa, m);
    if (!b_scalar) widen(pb + i, fb, m);
    if (a_scalar) {
      for (int64_t j = 0; j < m; ++j) fo[j] = static_cast<float>(f(va, fb[j]));
    } else if (b_scalar) {
      for (int64_t j = 0; j < m; ++j) fo[j] = static_cast<float>(f(fa[j], vb));
    } else {
      for (int64_t j = 0; j < m; ++j) fo[j] = static_cast<float>(f(fa[j], fb[j]));
    }
    if constexpr (std::is_same_v<U, bool>) {
      for (int64_t j = 0; j < m; ++j) po[i + j] = fo[j] != 0.0f;
    } else {
      narrow(fo, po + i, m);
    }
  }
}

template <typename T, typename U, typename F>
void binary_loop(const array& a, const array& b, array& out, F f) {
  const int64_t n = static_cast<int64_t>(out.size());
  const bool a_scalar = a.size() == 1;
  const bool b_scalar = b.size() == 1;
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  if ((a_scalar || (a.flags().row_contiguous && static_cast<int64_t>(a.size()) == n)) &&
      (b_scalar || (b.flags().row_contiguous && static_cast<int64_t>(b.size()) == n))) {
    if (!(std::is_same_v<T, U> && (donate_into(a, out) || donate_into(b, out)))) {
      out.set_data(allocator::malloc(out.nbytes()));
    }
    U* po = out.data<U>();
    auto run = [&](int64_t begin, int64_t end) {
      if constexpr (is_half_v<T>) {
        half_blocks(pa, a_scalar, pb, b_scalar, po, begin, end, f);
      } else if (a_scalar && !b_scalar) {
        const T va = pa[0];
        for (int64_t i = begin; i < end; ++i) po[i] = f(va, pb[i]);
      } else if (b_scalar && !a_scalar) {
        const T vb = pb[0];
        for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], vb);
      } else if (a_scalar && b_scalar) {
        for (int64_t i = begin; i < end; ++i) po[i] = f(pa[0], pb[0]);
      } else {
        for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], pb[i]);
      }
    };
    if (n >= kParallelGrain) {
      parallel_for(n, kParallelGrain, run);
    } else {
      run(0, n);
    }
    return;
  }
  out.set_data(allocator::malloc(out.nbytes()));
  if (n == 0) return;
  U* po = out.data<U>();
  Strides sa = broadcast_strides(a, out.shape());
  Strides sb = broadcast_strides(b, out.shape());
  Strides so = row_major_strides(out.shape());
  auto layout = collapse_layout<3>(out.shape(), {&sa, &sb, &so});
  run_rows(layout.num_rows(), layout.row_length(), [&](int64_t begin, int64_t end) {
    for_each_row(layout, begin, end, [&](const auto& off, int64_t len, const auto& st) {
      const T* ra = pa + off[0];
      const T* rb = pb + off[1];
      U* ro = po + off[2];
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i], rb[i]);
      } else if (st[0] == 1 && st[1] == 0) {
        const T vb = rb[0];
        for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i], vb);
      } else if (st[0] == 0 && st[1] == 1) {
        const T va = ra[0];
        for (int64_t i = 0; i < len; ++i) ro[i] = f(va, rb[i]);
      } else {
        for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i * st[0]], rb[i * st[1]]);
      }
    });
  });
}

// The op on two elements. Also callable on float32 values for the 16-bit float block path,
// where it returns the float32 result (or bool) before rounding.
template <BinaryOp op, typename T, typename U>
struct Apply {
  using C = compute_t<T>;
  U operator()(T x, T y) const { return cast_to<U>(binary_apply<op>(static_cast<C>(x), static_cast<C>(y))); }
  auto operator()(float x, float y) const
    requires is_half_v<T>
  {
    return binary_apply<op>(x, y);
  }
};

template <BinaryOp op>
void binary_dispatch(const array& a, const array& b, array& out) {
  constexpr bool bool_out = op == BinaryOp::equal || op == BinaryOp::not_equal || op == BinaryOp::less ||
                            op == BinaryOp::less_equal || op == BinaryOp::greater ||
                            op == BinaryOp::greater_equal || op == BinaryOp::logical_and ||
                            op == BinaryOp::logical_or;
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using U = std::conditional_t<bool_out, bool, T>;
    binary_loop<T, U>(a, b, out, Apply<op, T, U>{});
  });
}

}  // namespace

void binary(BinaryOp op, const array& a, const array& b, array& out) {
  switch (op) {
    case BinaryOp::add: return binary_dispatch<BinaryOp::add>(a, b, out);
    case BinaryOp::subtract: return binary_dispatch<BinaryOp::subtract>(a, b, out);
    case BinaryOp::multiply: return binary_dispatch<BinaryOp::multiply>(a, b, out);
    case BinaryOp::divide: return binary_dispatch<BinaryOp::divide>(a, b, out);
    case BinaryOp::power: return binary_dispatch<BinaryOp::power>(a, b, out);
    case BinaryOp::maximum: return binary_dispatch<BinaryOp::maximum>(a, b, out);
    case BinaryOp::minimum: return binary_dispatch<BinaryOp::minimum>(a, b, out);
    case BinaryOp::floor_divide: return binary_dispatch<BinaryOp::floor_divide>(a, b, out);
    case BinaryOp::remainder: return binary_dispatch<BinaryOp::remainder>(a, b, out);
    case BinaryOp::logaddexp: return binary_dispatch<BinaryOp::logaddexp>(a, b, out);
    case BinaryOp::arctan2: return binary_dispatch<BinaryOp::arctan2>(a, b, out);
    case BinaryOp::equal: return binary_dispatch<BinaryOp::equal>(a, b, out);
    case BinaryOp::not_equal: return binary_dispatch<BinaryOp::not_equal>(a, b, out);
    case BinaryOp::less: return binary_dispatch<BinaryOp::less>(a, b, out);
    case BinaryOp::less_equal: return binary_dispatch<BinaryOp::less_equal>(a, b, out);
    case BinaryOp::greater: return binary_dispatch<BinaryOp::greater>(a, b, out);
    case BinaryOp::greater_equal: return binary_dispatch<BinaryOp::greater_equal>(a, b, out);
    case BinaryOp::logical_and: return binary_dispatch<BinaryOp::logical_and>(a, b, out);
    case BinaryOp::logical_or: return binary_dispatch<BinaryOp::logical_or>(a, b, out);
  }
}

void select(const array& condition, const array& x, const array& y, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  Strides sc = broadcast_strides(condition, out.shape());
  Strides sx = broadcast_strides(x, out.shape());
  Strides sy = broadcast_strides(y, out.shape());
  Strides so = row_major_strides(out.shape());
  auto layout = collapse_layout<4>(out.shape(), {&sc, &sx, &sy, &so});
  const bool* pc = condition.data<bool>();
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    run_rows(layout.num_rows(), layout.row_length(), [&](int64_t begin, int64_t end) {
      for_each_row(layout, begin, end, [&](const auto& off, int64_t len, const auto& st) {
        for (int64_t i = 0; i < len; ++i) {
          po[off[3] + i] = pc[off[0] + i * st[0]] ? px[off[1] + i * st[1]] : py[off[2] + i * st[2]];
        }
      });
    });
  });
}

}  // namespace tessera::cpu
