// Layer normalisation of the rows of row-contiguous data.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// out = (x - mean) * rsqrt(var + eps) * weight + bias per row of length n; weight and bias are
// float32 [n] or null. Computed in float32, stored in dtype.
void layer_norm(Dtype dtype, const void* x, const float* weight, const float* bias, float eps, int64_t rows,
                int64_t n, void* out);

}  // namespace tessera::cpu
