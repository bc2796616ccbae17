#include "backend/cpu/scan.h"

#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"

namespace tessera::cpu {
namespace {

template <typename T>
using AccOf = std::conditional_t<std::is_integral_v<T>, std::conditional_t<std::is_same_v<T, bool>, int32_t, T>, float>;

template <typename Acc>
Acc identity(ScanKind kind) {
  if (kind == ScanKind::sum) return Acc(0);
  if (kind == ScanKind::prod) return Acc(1);
  if constexpr (std::is_integral_v<Acc>) return std::numeric_limits<Acc>::lowest();
  else return -std::numeric_limits<float>::infinity();
}

template <typename Acc>
Acc combine(ScanKind kind, Acc a, Acc b) {
  if (kind == ScanKind::sum) return a + b;
  if (kind == ScanKind::prod) return a * b;
  if constexpr (!std::is_integral_v<Acc>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<float>::quiet_NaN();
  }
  return a > b ? a : b;
}

template <typename T, typename Out>
void scan_typed(ScanKind kind, const T* in, Out* out, int64_t outer, int64_t n, int64_t inner, bool reverse,
                bool inclusive) {
  using Acc = AccOf<T>;
  auto load = [](T x) -> Acc {
    if constexpr (std::is_integral_v<Acc>) return static_cast<Acc>(x);
    else return to_f32(x);
  };
  auto store = [](Acc x) -> Out {
    if constexpr (std::is_integral_v<Acc>) return static_cast<Out>(x);
    else return from_f32<Out>(x);
  };
  parallel_chunks(outer, 1, [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(inner);
    for (int64_t o = begin; o < end; ++o) {
      std::fill(acc.begin(), acc.end(), identity<Acc>(kind));
      for (int64_t step = 0; step < n; ++step) {
        const int64_t i = reverse ? n - 1 - step : step;
        const T* src = in + (o * n + i) * inner;
        Out* dst = out + (o * n + i) * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const Acc next = combine(kind, acc[j], load(src[j]));
          dst[j] = store(inclusive ? next : acc[j]);
          acc[j] = next;
        }
      }
    }
  });
}

}  // namespace

Dtype scan_output_dtype(ScanKind kind, Dtype in_dtype) {
  return kind != ScanKind::max && in_dtype == bool_ ? int32 : in_dtype;
}

void scan(ScanKind kind, Dtype dtype, const void* in, void* out, int64_t outer, int64_t n, int64_t inner,
          bool reverse, bool inclusive) {
  if (outer * n * inner == 0) return;
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      if (kind != ScanKind::max) {
        scan_typed<T, int32_t>(kind, static_cast<const T*>(in), static_cast<int32_t*>(out), outer, n, inner,
                               reverse, inclusive);
        return;
      }
    }
    scan_typed<T, T>(kind, static_cast<const T*>(in), static_cast<T*>(out), outer, n, inner, reverse, inclusive);
  });
}

}  // namespace tessera::cpu
