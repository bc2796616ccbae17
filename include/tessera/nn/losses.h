// Loss functions (mlx.nn.losses) and the masked language-model loss used for fine-tuning.
#pragma once

#include <string>
#include <utility>

#include "tessera/array.h"

namespace tessera::nn {

// Cross entropy of `logits` (classes on `axis`) against integer class `targets` (the logits'
// shape without `axis`), computed in float32. With label smoothing s the target distribution is
// (1 - s) on the class plus s spread uniformly. `reduction`: "none" (per element), "mean", "sum".
array cross_entropy(const array& logits, const array& targets, float label_smoothing = 0.0f,
                    const std::string& reduction = "none", int axis = -1);

// The mean of `values` over the positions where `mask` is non-zero, and that count (float32
// scalars); 0 (with a zero gradient) when the mask selects nothing. Callers average across
// batches by weighting each mean with its count.
std::pair<array, array> masked_mean(const array& values, const array& mask);

// Next-token loss of logits [B, T, V] for token ids [B, T + 1]: position t predicts token t + 1.
// `mask` [B, T + 1] marks target tokens (1) and tokens that are not (prompt, padding); position 0
// is never a target. Returns (mean cross entropy over target tokens, number of target tokens).
std::pair<array, array> lm_loss(const array& logits, const array& tokens, const array& mask);

}  // namespace tessera::nn
