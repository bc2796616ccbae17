// Cross-entropy over the last axis of row-contiguous logits, fused so that training never holds
// the [rows, classes] intermediates (exponentials, softmax, one-hot) of the op-by-op formula.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

// loss[r] = logsumexp(x[r, :]) - x[r, targets[r]], computed in float32. A target outside
// [0, n) is an error naming it.
void cross_entropy_rows(Dtype dtype, const void* logits, const int32_t* targets, int64_t rows, int64_t n,
                        float* loss);

// dx[r, :] = g[r] * (softmax(x[r, :]) - onehot(targets[r])), computed in float32, stored in dtype.
void cross_entropy_grad_rows(Dtype dtype, const void* logits, const int32_t* targets, const float* g, int64_t rows,
                             int64_t n, void* dx);

}  // namespace tessera::cpu
