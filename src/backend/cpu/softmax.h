// Softmax / log-softmax over the last axis of row-contiguous data.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// Each of `rows` contiguous rows of length n; computed in float32, stored in dtype.
void softmax_rows(Dtype dtype, const void* in, void* out, int64_t rows, int64_t n, bool log);

}  // namespace tessera::cpu
