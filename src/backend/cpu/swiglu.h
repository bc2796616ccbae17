// silu(gate) * x elementwise for fast::swiglu.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// out[i] = gate[i] * sigmoid(gate[i]) * x[i] over n contiguous elements of one floating dtype,
// computed in float32 and rounded once.
void swiglu(Dtype dtype, const void* gate, const void* x, void* out, int64_t n);

}  // namespace tessera::cpu
