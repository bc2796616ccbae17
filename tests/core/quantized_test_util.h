// Error bounds shared by the quantized-product tests.
#pragma once

#include "backend/cpu/quantized_decode.h"
#include "tessera/tessera.h"

namespace tessera::testing {

// Whether this CPU takes the decode layout (AVX-512 VNNI); its tests skip otherwise.
inline bool cpu_takes_decode_layout() {
  const cpu::QuantizedMatrix probe{nullptr, nullptr, nullptr, cpu::ScaleType::float32, 2, 512, 32, 4};
  return cpu::qdecode::supports(probe);
}

// Elementwise bound on |x · wd^T - x̂ · wd^T| where x̂ is x rounded per block of 32 to steps of
// dx = max |x| / (127 * 256) over the block (|x - x̂| <= dx, the fine term saturating), as the
// few-row kernels (in MLX's layout and in the decode layout) do for 4- and 8-bit weights on CPUs
// with int8 dot products (two int8 terms); plus float rounding.
inline array int8_activation_bound(const array& x, const array& wd) {
  const int64_t K = x.shape(-1);
  Shape blocks = x.shape();
  blocks.back() = K / 32;
  blocks.push_back(32);
  array amax = max(abs(reshape(x, blocks)), -1, true);
  array half_step = reshape(broadcast_to(amax, blocks), x.shape()) / array(127.0f * 256.0f);
  return matmul(half_step, transpose(abs(wd))) * array(1.01f) + array(1e-4f);
}

}  // namespace tessera::testing
