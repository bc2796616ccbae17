#include "backend/cpu/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "backend/cpu/kernel_util.h"
#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {
namespace {

template <typename T>
bool is_nan(T x) {
  if constexpr (std::is_integral_v<T>) {
    return false;
  } else {
    return std::isnan(to_f32(x));
  }
}

// Accumulator type: float32 for floating inputs, int64 for integers, bool for all/any.
template <typename In, ReduceKind K>
using AccOf = std::conditional_t<
    K == ReduceKind::all || K == ReduceKind::any, bool,
    std::conditional_t<K == ReduceKind::max || K == ReduceKind::min, In,
                       std::conditional_t<std::is_integral_v<In>, int64_t, float>>>;

template <ReduceKind K, typename In, typename Acc>
struct Combine {
  static Acc init() {
    if constexpr (K == ReduceKind::sum) return Acc(0);
    if constexpr (K == ReduceKind::prod) return Acc(1);
    if constexpr (K == ReduceKind::all) return true;
    if constexpr (K == ReduceKind::any) return false;
    if constexpr (K == ReduceKind::max) {
      if constexpr (std::is_integral_v<Acc>) return std::numeric_limits<Acc>::lowest();
      else return from_f32<Acc>(-std::numeric_limits<float>::infinity());
    }
    if constexpr (K == ReduceKind::min) {
      if constexpr (std::is_integral_v<Acc>) return std::numeric_limits<Acc>::max();
      else return from_f32<Acc>(std::numeric_limits<float>::infinity());
    }
  }
  static void apply(Acc& acc, In x) {
    if constexpr (K == ReduceKind::sum) {
      if constexpr (std::is_integral_v<Acc>) acc += static_cast<Acc>(x);
      else acc += to_f32(x);
    } else if constexpr (K == ReduceKind::prod) {
      if constexpr (std::is_integral_v<Acc>) acc *= static_cast<Acc>(x);
      else acc *= to_f32(x);
    } else if constexpr (K == ReduceKind::all) {
      acc = acc && to_bool(x);
    } else if constexpr (K == ReduceKind::any) {
      acc = acc || to_bool(x);
    } else if constexpr (K == ReduceKind::max) {
      if (is_nan(acc)) return;
      if (is_nan(x) || less(acc, x)) acc = x;
    } else {
      if (is_nan(acc)) return;
      if (is_nan(x) || less(x, acc)) acc = x;
    }
  }
  static bool to_bool(In x) {
    if constexpr (std::is_integral_v<In>) return x != 0;
    else return to_f32(x) != 0.0f;
  }
  static bool less(In a, In b) {
    if constexpr (std::is_integral_v<In>) return a < b;
    else return to_f32(a) < to_f32(b);
  }
};

template <typename Acc, typename Out>
Out finish(Acc acc) {
  if constexpr (std::is_same_v<Acc, float> && !std::is_same_v<Out, float>) {
    if constexpr (std::is_integral_v<Out>) return static_cast<Out>(acc);
    else return from_f32<Out>(acc);
  } else {
    return static_cast<Out>(acc);
  }
}

// Drops size-1 axes and merges neighbours that are contiguous with each other.
void collapse(std::vector<int64_t>& shape, std::vector<int64_t>& strides) {
  std::vector<int64_t> s, st;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!s.empty() && st.back() == strides[i] * shape[i]) {
      s.back() *= shape[i];
      st.back() = strides[i];
    } else {
      s.push_back(shape[i]);
      st.push_back(strides[i]);
    }
  }
  shape = std::move(s);
  strides = std::move(st);
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (auto x : v) p *= x;
  return p;
}

int64_t min_abs_stride(const std::vector<int64_t>& strides) {
  int64_t m = std::numeric_limits<int64_t>::max();
  for (auto s : strides) m = std::min(m, std::abs(s));
  return m;
}

// sum / max of contiguous float rows with the SIMD row primitives (16-bit floats are staged
// through a float32 buffer in chunks).
template <ReduceKind K, typename In, typename Out>
void reduce_rows_simd(const In* in, const std::vector<int64_t>& kshape, const std::vector<int64_t>& kstrides,
                      int64_t n, int64_t n_out, Out* out) {
  constexpr int64_t kChunk = 1024;
  parallel_chunks(n_out, 16384 / n + 1, [&](int64_t begin, int64_t end) {
    float buf[kChunk];
    StridedWalker kept(kshape, kstrides);
    kept.seek(begin);
    for (int64_t o = begin; o < end; ++o, kept.next()) {
      const In* base = in + kept.offset();
      float acc = K == ReduceKind::sum ? 0.0f : -std::numeric_limits<float>::infinity();
      for (int64_t c = 0; c < n; c += kChunk) {
        const int64_t len = std::min(kChunk, n - c);
        const float* row;
        if constexpr (std::is_same_v<In, float>) {
          row = base + c;
        } else {
          load_row(base + c, 1, buf, len);
          row = buf;
        }
        if constexpr (K == ReduceKind::sum) {
          acc += simd::sum(row, len);
        } else {
          const float m = simd::max(row, len);
          acc = (std::isnan(m) || m > acc) ? m : acc;
          if (std::isnan(acc)) break;
        }
      }
      out[o] = from_f32<Out>(acc);
    }
  });
}

template <ReduceKind K, typename In, typename Out>
void reduce_typed(const In* in, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  const std::vector<int>& axes, Out* out) {
  using Acc = AccOf<In, K>;
  using C = Combine<K, In, Acc>;
  std::vector<int64_t> kshape, kstrides, rshape, rstrides;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
    (reduced ? rshape : kshape).push_back(shape[d]);
    (reduced ? rstrides : kstrides).push_back(strides[d]);
  }
  const int64_t n_out = product(kshape);
  const int64_t n_red = product(rshape);
  if (n_out == 0) return;
  collapse(kshape, kstrides);
  collapse(rshape, rstrides);

  if constexpr (!std::is_integral_v<In> && (K == ReduceKind::sum || K == ReduceKind::max)) {
    if (rshape.size() == 1 && rstrides[0] == 1 && n_red > 0) {
      reduce_rows_simd<K>(in, kshape, kstrides, n_red, n_out, out);
      return;
    }
  }
  if (n_red == 0 || rshape.empty() || min_abs_stride(rstrides) < min_abs_stride(kstrides)) {
    // Each output reads its own run of inputs (innermost memory axis is reduced).
    parallel_chunks(n_out, 4096 / std::max<int64_t>(n_red, 1) + 1, [&](int64_t begin, int64_t end) {
      StridedWalker kept(kshape, kstrides);
      kept.seek(begin);
      for (int64_t o = begin; o < end; ++o, kept.next()) {
        const In* base = in + kept.offset();
        Acc acc = C::init();
        if (rshape.size() == 1) {
          const int64_t s = rstrides[0];
          for (int64_t r = 0; r < n_red; ++r) C::apply(acc, base[r * s]);
        } else if (n_red > 0) {
          StridedWalker red(rshape, rstrides);
          for (int64_t r = 0; r < n_red; ++r, red.next()) C::apply(acc, base[red.offset()]);
        }
        out[o] = finish<Acc, Out>(acc);
      }
    });
    return;
  }
  // The innermost memory axis is kept: accumulate whole output rows per reduced position.
  std::unique_ptr<Acc[]> acc(new Acc[n_out]);  // not vector: vector<bool> has no references
  std::fill(acc.get(), acc.get() + n_out, C::init());
  StridedWalker red(rshape, rstrides);
  for (int64_t r = 0; r < n_red; ++r, red.next()) {
    const In* base = in + red.offset();
    if (kshape.size() == 1) {
      const int64_t s = kstrides[0];
      for (int64_t o = 0; o < n_out; ++o) C::apply(acc[o], base[o * s]);
    } else {
      StridedWalker kept(kshape, kstrides);
      for (int64_t o = 0; o < n_out; ++o, kept.next()) C::apply(acc[o], base[kept.offset()]);
    }
  }
  for (int64_t o = 0; o < n_out; ++o) out[o] = finish<Acc, Out>(acc[o]);
}

// sum/prod of bool and 8-bit integers give int32; all/any give bool; the rest keep the dtype.
template <ReduceKind K, typename In>
using OutOf = std::conditional_t<
    K == ReduceKind::all || K == ReduceKind::any, bool,
    std::conditional_t<(K == ReduceKind::sum || K == ReduceKind::prod) && std::is_integral_v<In> &&
                           sizeof(In) == 1,
                       int32_t, In>>;

template <ReduceKind K>
void reduce_kind(Dtype in_dtype, const void* in, const std::vector<int64_t>& shape,
                 const std::vector<int64_t>& strides, const std::vector<int>& axes, void* out) {
  dispatch_all(in_dtype, [&](auto in_tag) {
    using In = typename decltype(in_tag)::type;
    using Out = OutOf<K, In>;
    reduce_typed<K, In, Out>(static_cast<const In*>(in), shape, strides, axes, static_cast<Out*>(out));
  });
}

template <typename T>
void arg_reduce_typed(bool is_max, const T* in, const std::vector<int64_t>& shape,
                      const std::vector<int64_t>& strides, int axis, uint32_t* out) {
  using Key = std::conditional_t<std::is_integral_v<T>, T, float>;
  auto key = [](T x) -> Key {
    if constexpr (std::is_integral_v<T>) return x;
    else return to_f32(x);
  };
  std::vector<int64_t> kshape, kstrides;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d == axis) continue;
    kshape.push_back(shape[d]);
    kstrides.push_back(strides[d]);
  }
  const int64_t n = shape[axis];
  const int64_t s = strides[axis];
  const int64_t n_out = product(kshape);
  parallel_chunks(n_out, 4096 / std::max<int64_t>(n, 1) + 1, [&](int64_t begin, int64_t end) {
    StridedWalker kept(kshape, kstrides);
    kept.seek(begin);
    for (int64_t o = begin; o < end; ++o, kept.next()) {
      const T* base = in + kept.offset();
      if constexpr (std::is_same_v<T, float>) {
        // A vocabulary-long row of logits (greedy sampling): the maximum, then its first
        // position, in SIMD; a row holding NaN takes the scalar loop, which finds the first NaN.
        if (is_max && s == 1) {
          const float m = simd::max(base, n);
          if (!std::isnan(m)) {
            out[o] = static_cast<uint32_t>(simd::find_first(base, n, m));
            continue;
          }
        }
      }
      int64_t best = 0;
      Key best_v = key(base[0]);
      if (!is_nan(best_v)) {
        for (int64_t i = 1; i < n; ++i) {
          const Key v = key(base[i * s]);
          if (is_nan(v)) {
            best = i;
            break;
          }
          if (is_max ? v > best_v : v < best_v) {
            best = i;
            best_v = v;
          }
        }
      }
      out[o] = static_cast<uint32_t>(best);
    }
  });
}

}  // namespace

void reduce(ReduceKind kind, Dtype in_dtype, const void* in, const std::vector<int64_t>& shape,
            const std::vector<int64_t>& strides, const std::vector<int>& axes, void* out) {
  switch (kind) {
    case ReduceKind::sum: return reduce_kind<ReduceKind::sum>(in_dtype, in, shape, strides, axes, out);
    case ReduceKind::prod: return reduce_kind<ReduceKind::prod>(in_dtype, in, shape, strides, axes, out);
    case ReduceKind::max: return reduce_kind<ReduceKind::max>(in_dtype, in, shape, strides, axes, out);
    case ReduceKind::min: return reduce_kind<ReduceKind::min>(in_dtype, in, shape, strides, axes, out);
    case ReduceKind::all: return reduce_kind<ReduceKind::all>(in_dtype, in, shape, strides, axes, out);
    case ReduceKind::any: return reduce_kind<ReduceKind::any>(in_dtype, in, shape, strides, axes, out);
  }
}

Dtype reduce_output_dtype(ReduceKind kind, Dtype in_dtype) {
  if (kind == ReduceKind::all || kind == ReduceKind::any) return bool_;
  if ((kind == ReduceKind::sum || kind == ReduceKind::prod) &&
      (in_dtype == bool_ || in_dtype == uint8 || in_dtype == int8))
    return int32;
  return in_dtype;
}

void arg_reduce(bool is_max, Dtype dtype, const void* in, const std::vector<int64_t>& shape,
                const std::vector<int64_t>& strides, int axis, uint32_t* out) {
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    arg_reduce_typed<T>(is_max, static_cast<const T*>(in), shape, strides, axis, out);
  });
}

}  // namespace tessera::cpu
