// Rotary position embedding of [N, T, D] data whose rows (of D contiguous features) may sit
// anywhere, e.g. the heads of a transposed [B, T, H, D] tensor.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// The n_seq sequences form n_offsets equal groups (one per batch row, or a single group); row t
// of a sequence in group g sits at position offsets[g] + t and its feature pair i (i < dims / 2)
// rotates by angle scale * position * inv_freq[i]. traditional pairs (2i, 2i+1); otherwise
// (i, i + dims/2) as in Hugging Face's rotate_half. Features from `dims` on are copied.
// Input row r (= n * T + t) starts at element row_offsets[r] of x; out is row-contiguous.
void rope(Dtype dtype, const void* x, const int64_t* row_offsets, void* out, int64_t n_seq, int64_t T, int64_t D,
          int64_t dims, bool traditional, const float* inv_freq, float scale, const int64_t* offsets,
          int64_t n_offsets);

}  // namespace tessera::cpu
