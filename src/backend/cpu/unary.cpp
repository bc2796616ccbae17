#include "backend/cpu/elementwise.h"
#include "backend/cpu/elementwise_ops.h"
#include "backend/cpu/float_blocks.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/thread_pool.h"
#include "backend/cpu/vector_math.h"
#include "core/allocator.h"
#include "core/dtype_dispatch.h"
#include "core/utils.h"

namespace tessera::cpu {

namespace {

// op over contiguous float32 values; the transcendental functions the language models lean on
// have SIMD versions.
template <UnaryOp op>
void float_rows(const float* x, float* y, int64_t n) {
  if constexpr (op == UnaryOp::exp) {
    vector_exp(x, y, n);
  } else if constexpr (op == UnaryOp::log) {
    vector_log(x, y, n);
  } else if constexpr (op == UnaryOp::tanh) {
    vector_tanh(x, y, n);
  } else if constexpr (op == UnaryOp::sigmoid) {
    vector_sigmoid(x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = unary_apply<op>(x[i]);
  }
}

// The contiguous path for float outputs of float inputs (16-bit floats through float32 blocks).
template <UnaryOp op, typename T>
void float_contiguous(const T* src, T* dst, int64_t begin, int64_t end) {
  if constexpr (std::is_same_v<T, float>) {
    float_rows<op>(src + begin, dst + begin, end - begin);
  } else {
    float buf[kFloatBlock];
    for (int64_t i = begin; i < end; i += kFloatBlock) {
      int64_t m = std::min(kFloatBlock, end - i);
      widen(src + i, buf, m);
      float_rows<op>(buf, buf, m);
      narrow(buf, dst + i, m);
    }
  }
}

template <UnaryOp op, typename T, typename U>
void unary_typed(const array& in, array& out) {
  using C = compute_t<T>;
  auto f = [](T v) { return cast_to<U>(unary_apply<op>(static_cast<C>(v))); };
  const T* src = in.data<T>();
  const int64_t n = static_cast<int64_t>(out.size());
  if (in.flags().row_contiguous) {
    if (std::is_same_v<T, U> && in.is_donatable()) {
      out.move_shared_buffer(in);
    } else {
      out.set_data(allocator::malloc(out.nbytes()));
    }
    U* dst = out.data<U>();
    auto run = [&](int64_t begin, int64_t end) {
      if constexpr (std::is_same_v<T, U> && std::is_floating_point_v<C>) {
        float_contiguous<op>(src, dst, begin, end);
      } else {
        for (int64_t i = begin; i < end; ++i) dst[i] = f(src[i]);
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
  U* dst = out.data<U>();
  Strides out_strides = row_major_strides(out.shape());
  auto layout = collapse_layout<2>(in.shape(), {&in.strides(), &out_strides});
  for_each_row(layout, 0, layout.num_rows(), [&](const auto& off, int64_t len, const auto& st) {
    for (int64_t i = 0; i < len; ++i) dst[off[1] + i] = f(src[off[0] + i * st[0]]);
  });
}

template <UnaryOp op>
void unary_dispatch(const array& in, array& out) {
  constexpr bool bool_out = op == UnaryOp::logical_not || op == UnaryOp::isnan || op == UnaryOp::isinf ||
                            op == UnaryOp::isfinite;
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using U = std::conditional_t<bool_out, bool, T>;
    unary_typed<op, T, U>(in, out);
  });
}

}  // namespace

void unary(UnaryOp op, const array& in, array& out) {
  switch (op) {
    case UnaryOp::abs: return unary_dispatch<UnaryOp::abs>(in, out);
    case UnaryOp::negative: return unary_dispatch<UnaryOp::negative>(in, out);
    case UnaryOp::sign: return unary_dispatch<UnaryOp::sign>(in, out);
    case UnaryOp::exp: return unary_dispatch<UnaryOp::exp>(in, out);
    case UnaryOp::expm1: return unary_dispatch<UnaryOp::expm1>(in, out);
    case UnaryOp::log: return unary_dispatch<UnaryOp::log>(in, out);
    case UnaryOp::log1p: return unary_dispatch<UnaryOp::log1p>(in, out);
    case UnaryOp::log2: return unary_dispatch<UnaryOp::log2>(in, out);
    case UnaryOp::log10: return unary_dispatch<UnaryOp::log10>(in, out);
    case UnaryOp::sqrt: return unary_dispatch<UnaryOp::sqrt>(in, out);
    case UnaryOp::rsqrt: return unary_dispatch<UnaryOp::rsqrt>(in, out);
    case UnaryOp::square: return unary_dispatch<UnaryOp::square>(in, out);
    case UnaryOp::reciprocal: return unary_dispatch<UnaryOp::reciprocal>(in, out);
    case UnaryOp::sin: return unary_dispatch<UnaryOp::sin>(in, out);
    case UnaryOp::cos: return unary_dispatch<UnaryOp::cos>(in, out);
    case UnaryOp::tan: return unary_dispatch<UnaryOp::tan>(in, out);
    case UnaryOp::tanh: return unary_dispatch<UnaryOp::tanh>(in, out);
    case UnaryOp::sigmoid: return unary_dispatch<UnaryOp::sigmoid>(in, out);
    case UnaryOp::erf: return unary_dispatch<UnaryOp::erf>(in, out);
    case UnaryOp::erfinv: return unary_dispatch<UnaryOp::erfinv>(in, out);
    case UnaryOp::floor: return unary_dispatch<UnaryOp::floor>(in, out);
    case UnaryOp::ceil: return unary_dispatch<UnaryOp::ceil>(in, out);
    case UnaryOp::round: return unary_dispatch<UnaryOp::round>(in, out);
    case UnaryOp::logical_not: return unary_dispatch<UnaryOp::logical_not>(in, out);
    case UnaryOp::isnan: return unary_dispatch<UnaryOp::isnan>(in, out);
    case UnaryOp::isinf: return unary_dispatch<UnaryOp::isinf>(in, out);
    case UnaryOp::isfinite: return unary_dispatch<UnaryOp::isfinite>(in, out);
  }
}

}  // namespace tessera::cpu
