#include "backend/cpu/attention_rows.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {

namespace {

// A contiguous bool row, 16 keys per compare: a batch's masks hide each row's padding from every
// query head, and the scalar loop's branch per key was a tenth of decoding attention.
TESSERA_TARGET_AVX512 void hide_keys_avx512(const bool* m, int64_t n, float* scores) {
  const __m512 hidden = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m + j));
    _mm512_mask_storeu_ps(scores + j, _mm_cmpeq_epi8_mask(bytes, _mm_setzero_si128()), hidden);
  }
  for (; j < n; ++j)
    if (!m[j]) scores[j] = -std::numeric_limits<float>::infinity();
}

}  // namespace

void add_mask_row(Dtype dtype, const void* base, int64_t offset, int64_t stride, int64_t n, float* scores) {
  if (dtype == bool_ && stride == 1 && cpu_has_avx512()) {
    return hide_keys_avx512(static_cast<const bool*>(base) + offset, n, scores);
  }
  dispatch_all(dtype, [&](auto tag) {
    using M = typename decltype(tag)::type;
    const M* m = static_cast<const M*>(base) + offset;
    for (int64_t j = 0; j < n; ++j) {
      if constexpr (std::is_same_v<M, bool>) {
        if (!m[j * stride]) scores[j] = -std::numeric_limits<float>::infinity();
      } else if constexpr (std::is_integral_v<M>) {
        scores[j] += static_cast<float>(m[j * stride]);
      } else {
        scores[j] += to_f32(m[j * stride]);
      }
    }
  });
}

float softmax_scores(float* row, int64_t n_keys, int64_t limit) {
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
  // The sum runs over exactly the keys the row sees, from the first of them: a row of a
  // left-padded batch, whose padding is hidden, adds its keys in the same lanes and order as its
  // sequence alone.
  int64_t first = 0;
  while (first < limit && row[first] == kHidden) ++first;
  const float m = first < limit ? simd::max(row + first, limit - first) : kHidden;
  if (m == kHidden) {
    std::fill(row, row + n_keys, 0.0f);
    return 0.0f;
  }
  std::fill(row, row + first, 0.0f);
  std::fill(row + limit, row + n_keys, 0.0f);
  return simd::exp_shifted(row + first, m, row + first, limit - first);
}

}  // namespace tessera::cpu
