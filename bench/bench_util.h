// Inputs shared by the benchmarks.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/ops.h"

namespace tessera::bench {

// A [rows, cols] matrix of fixed pseudo-random values in [-1, 1), in dtype.
inline array random_matrix(int64_t rows, int64_t cols, Dtype dtype) {
  std::vector<float> v(static_cast<size_t>(rows * cols));
  uint32_t state = 12345u;
  for (auto& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  return astype(array(v, {rows, cols}, float32), dtype);
}

}  // namespace tessera::bench
