#include "backend/cpu/softmax.h"

#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {
namespace {

// A row whose maximum is -inf (all masked) has no finite shift; exp(-inf - 0) = 0 keeps the
// result NaN-free for log-softmax and 0/0 = NaN for softmax, as in NumPy.
void softmax_row(float* x, int64_t n, bool log) {
  float m = simd::max(x, n);
  if (std::isinf(m)) m = m > 0 ? m : 0.0f;
  if (log) {
    std::vector<float> tmp(n);
    const float s = simd::exp_shifted(x, m, tmp.data(), n);
    const float shift = m + std::log(s);
    for (int64_t i = 0; i < n; ++i) x[i] -= shift;
  } else {
    const float s = simd::exp_shifted(x, m, x, n);
    simd::scale(x, 1.0f / s, n);
  }
}

template <typename T>
void softmax_typed(const T* in, T* out, int64_t rows, int64_t n, bool log) {
  parallel_chunks(rows, 16384 / (n + 1) + 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(n);
    for (int64_t r = begin; r < end; ++r) {
      load_row(in + r * n, 1, row.data(), n);
      softmax_row(row.data(), n, log);
      store_row(row.data(), out + r * n, n);
    }
  });
}

}  // namespace

void softmax_rows(Dtype dtype, const void* in, void* out, int64_t rows, int64_t n, bool log) {
  if (rows == 0 || n == 0) return;
  dispatch_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_typed(static_cast<const T*>(in), static_cast<T*>(out), rows, n, log);
  });
}

}  // namespace tessera::cpu
