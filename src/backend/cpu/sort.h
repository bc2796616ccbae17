// Sorting and partitioning along one axis of row-contiguous data.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// in is row-contiguous [outer, n, inner]; the axis of length n is sorted (ascending, NaN last,
// stable). With `indices`, out receives uint32 positions instead of values. With kth >= 0 only
// a partition is done: position kth holds the element a full sort would put there, smaller or
// equal elements come before it and larger or equal ones after.
void sort_axis(Dtype dtype, const void* in, int64_t outer, int64_t n, int64_t inner, bool indices, int64_t kth,
               void* out);

}  // namespace tessera::cpu
