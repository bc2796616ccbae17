#include "backend/cpu/rope.h"

#include <cmath>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {

void rope(Dtype dtype, const void* x, const int64_t* row_offsets, void* out, int64_t n_seq, int64_t T, int64_t D,
          int64_t dims, bool traditional, const float* inv_freq, float scale, const int64_t* offsets,
          int64_t n_offsets) {
  if (n_seq * T * D == 0) return;
  const int64_t half = dims / 2;
  // One table of cos/sin per group and position, shared by the group's sequences (heads).
  std::vector<float> cos_t(n_offsets * T * half), sin_t(n_offsets * T * half);
  for (int64_t g = 0; g < n_offsets; ++g) {
    for (int64_t t = 0; t < T; ++t) {
      const double pos = static_cast<double>(offsets[g] + t) * scale;
      const int64_t at = (g * T + t) * half;
      for (int64_t i = 0; i < half; ++i) {
        const double angle = pos * inv_freq[i];
        cos_t[at + i] = static_cast<float>(std::cos(angle));
        sin_t[at + i] = static_cast<float>(std::sin(angle));
      }
    }
  }
  const int64_t seq_per_group = n_seq / n_offsets;
  const int64_t a_step = traditional ? 2 : 1;      // distance between consecutive pairs
  const int64_t b_off = traditional ? 1 : half;    // distance from a pair's first to second element
  dispatch_float(dtype, [&](auto tag) {
    using T_ = typename decltype(tag)::type;
    const T_* in = static_cast<const T_*>(x);
    T_* dst = static_cast<T_*>(out);
    parallel_chunks(n_seq * T, 4096 / D + 1, [&](int64_t begin, int64_t end) {
      std::vector<float> row(D);
      for (int64_t r = begin; r < end; ++r) {
        const int64_t table_row = (r / T / seq_per_group) * T + r % T;
        load_row(in + row_offsets[r], 1, row.data(), D);
        const float* c = cos_t.data() + table_row * half;
        const float* s = sin_t.data() + table_row * half;
        if (!traditional) {
          simd::rotate_pairs(row.data(), row.data() + half, c, s, half);
        } else {
          for (int64_t i = 0; i < half; ++i) {
            const int64_t ia = i * a_step, ib = ia + b_off;
            const float a = row[ia], b = row[ib];
            row[ia] = a * c[i] - b * s[i];
            row[ib] = a * s[i] + b * c[i];
          }
        }
        store_row(row.data(), dst + r * D, D);
      }
    });
  });
}

}  // namespace tessera::cpu
