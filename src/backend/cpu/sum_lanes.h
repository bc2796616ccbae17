// The sums of 16 vectors' lanes as one vector: 45 shuffles and adds instead of 16 horizontal
// sums, for kernels that dot one row with 16 others at a time (the attention kernels' scores).
#pragma once

#include "backend/cpu/simd_features.h"

namespace tessera::cpu {

// Blocks [x0 + x1, x2 + x3, y0 + y1, y2 + y3] of two vectors' 128-bit blocks.
TESSERA_TARGET_AVX512 inline __m512 fold_blocks(__m512 x, __m512 y) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Lane j of the result is the sum of the lanes of a[j].
TESSERA_TARGET_AVX512 inline __m512 sum_lanes(const __m512 (&a)[16]) {
  // Per 128-bit block, u = [a0 + a2, b0 + b2, a1 + a3, b1 + b3] of the block's four elements.
  __m512 u[8];
  for (int i = 0; i < 8; ++i)
    u[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  // Per block, v = the block's sums of four vectors in order.
  __m512 v[4];
  for (int i = 0; i < 4; ++i) {
    const __m512d x = _mm512_castps_pd(u[2 * i]), y = _mm512_castps_pd(u[2 * i + 1]);
    v[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // The four blocks of each v summed, two at a time.
  return fold_blocks(fold_blocks(v[0], v[1]), fold_blocks(v[2], v[3]));
}

}  // namespace tessera::cpu
