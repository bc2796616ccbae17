// RMS normalisation of the rows of row-contiguous data.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// out = x * rsqrt(mean(x^2) + eps) * weight per row of length n; weight is float32 [n] or null.
// Computed in float32, stored in dtype.
void rms_norm(Dtype dtype, const void* x, const float* weight, float eps, int64_t rows, int64_t n, void* out);

}  // namespace tessera::cpu
