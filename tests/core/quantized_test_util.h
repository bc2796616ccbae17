// Error bounds shared by the quantized-product tests.
#pragma once

#include "tessera/tessera.h"

namespace tessera::testing {

// Elementwise bound on |x · wd^T - x̂ · wd^T| where x̂ is x rounded per block of 32 to steps of
// dx = max |x| / (127 * steps_per_unit) over the block (|x - x̂| <= dx), plus float rounding. The
// few-row kernel in MLX's layout takes two int8 terms (256 steps per unit, the fine term
// saturating); the decode layout takes two at 8 bits and one (1 step per unit: |x - x̂| <= dx / 2)
// at 4 bits.
inline array int8_activation_bound(const array& x, const array& wd, float steps_per_unit = 256.0f) {
  const int64_t K = x.shape(-1);
  Shape blocks = x.shape();
  blocks.back() = K / 32;
  blocks.push_back(32);
  array amax = max(abs(reshape(x, blocks)), -1, true);
  array half_step = reshape(broadcast_to(amax, blocks), x.shape()) / array(127.0f * steps_per_unit);
  return matmul(half_step, transpose(abs(wd))) * array(1.01f) + array(1e-4f);
}

}  // namespace tessera::testing
