// Per-row steps of attention that its kernels share: the mask added to a row of scores, and the
// softmax of a row.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// Adds one row of the mask (n entries spaced by stride, from element `offset` of base) to the
// scores; a false entry of a bool mask hides its key.
void add_mask_row(Dtype dtype, const void* base, int64_t offset, int64_t stride, int64_t n, float* scores);

// Softmax of one score row in place over its first n_keys entries, with entries from `limit`
// on hidden; returns the normaliser, or 0 when no key is visible (the row is then all zeros).
float softmax_scores(float* row, int64_t n_keys, int64_t limit);

}  // namespace tessera::cpu
