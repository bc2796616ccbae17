#include "backend/cpu/rope.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {

namespace {

// cos and sin of every (group, position, pair) of one call.
struct AngleTable {
  std::vector<float> inv_freq;
  float scale = 0.0f;
  std::vector<int64_t> offsets;
  int64_t T = 0;
  std::vector<float> cos, sin;

  bool matches(const float* f, int64_t half, float s, const int64_t* o, int64_t n_offsets, int64_t t) const {
    return scale == s && T == t && std::equal(inv_freq.begin(), inv_freq.end(), f, f + half) &&
           std::equal(offsets.begin(), offsets.end(), o, o + n_offsets);
  }

  void fill(const float* f, int64_t half, float s, const int64_t* o, int64_t n_offsets, int64_t t) {
    inv_freq.assign(f, f + half);
    scale = s;
    offsets.assign(o, o + n_offsets);
    T = t;
    cos.resize(n_offsets * T * half);
    sin.resize(n_offsets * T * half);
    for (int64_t g = 0; g < n_offsets; ++g) {
      for (int64_t i = 0; i < T; ++i) {
        const double pos = static_cast<double>(o[g] + i) * s;
        const int64_t at = (g * T + i) * half;
        for (int64_t j = 0; j < half; ++j) {
          const double angle = pos * f[j];
          cos[at + j] = static_cast<float>(std::cos(angle));
          sin[at + j] = static_cast<float>(std::sin(angle));
        }
      }
    }
  }
};

// Every layer of a model rotates its queries and keys at the same positions, so a decoding step
// asks for the same table dozens of times (once per layer and side): the last tables of this
// thread are kept, two for models that alternate two rotary settings (Gemma 3), rather than
// recomputing cos and sin in double precision each time.
const AngleTable& angle_table(const float* inv_freq, int64_t half, float scale, const int64_t* offsets,
                              int64_t n_offsets, int64_t T) {
  thread_local AngleTable tables[2];
  thread_local int next = 0;
  for (const auto& t : tables)
    if (t.matches(inv_freq, half, scale, offsets, n_offsets, T)) return t;
  AngleTable& t = tables[next];
  next = 1 - next;
  t.fill(inv_freq, half, scale, offsets, n_offsets, T);
  return t;
}

}  // namespace

void rope(Dtype dtype, const void* x, const int64_t* row_offsets, void* out, int64_t n_seq, int64_t T, int64_t D,
          int64_t dims, bool traditional, const float* inv_freq, float scale, const int64_t* offsets,
          int64_t n_offsets) {
  if (n_seq * T * D == 0) return;
  const int64_t half = dims / 2;
  const AngleTable& table = angle_table(inv_freq, half, scale, offsets, n_offsets, T);
  const std::vector<float>& cos_t = table.cos;
  const std::vector<float>& sin_t = table.sin;
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
