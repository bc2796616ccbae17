#include "backend/cpu/rms_norm.h"

#include <cmath>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {

void rms_norm(Dtype dtype, const void* x, const float* weight, float eps, int64_t rows, int64_t n, void* out) {
  if (rows == 0 || n == 0) return;
  dispatch_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(x);
    T* dst = static_cast<T*>(out);
    parallel_chunks(rows, 16384 / n + 1, [&](int64_t begin, int64_t end) {
      std::vector<float> row(n);
      for (int64_t r = begin; r < end; ++r) {
        load_row(in + r * n, 1, row.data(), n);
        const float inv = 1.0f / std::sqrt(simd::sum_squares(row.data(), n) / n + eps);
        simd::scale_weighted(row.data(), inv, weight, row.data(), n);
        store_row(row.data(), dst + r * n, n);
      }
    });
  });
}

}  // namespace tessera::cpu
