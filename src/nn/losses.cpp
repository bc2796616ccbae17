#include "tessera/nn/losses.h"

#include <stdexcept>

#include "tessera/fast.h"
#include "tessera/ops.h"

namespace tessera::nn {

namespace {

array reduce(const array& loss, const std::string& reduction) {
  if (reduction == "none") return loss;
  if (reduction == "mean") return mean(loss);
  if (reduction == "sum") return sum(loss);
  throw std::invalid_argument("[cross_entropy] reduction must be none, mean or sum, got '" + reduction + "'");
}

}  // namespace

// Over the last axis without label smoothing (language-model training), the fused kernel: its
// gradient needs no [..., classes] intermediates besides itself.
array cross_entropy(const array& logits, const array& targets, float label_smoothing, const std::string& reduction,
                    int axis) {
  if (label_smoothing < 0.0f || label_smoothing >= 1.0f) {
    throw std::invalid_argument("[cross_entropy] label_smoothing must be in [0, 1), got " +
                                std::to_string(label_smoothing));
  }
  const int nd = static_cast<int>(logits.ndim());
  const int ax = axis < 0 ? axis + nd : axis;
  if (ax < 0 || ax >= nd || targets.ndim() + 1 != logits.ndim()) {
    throw std::invalid_argument("[cross_entropy] targets must have the logits' shape without the class axis");
  }
  if (label_smoothing == 0.0f && ax == nd - 1) return reduce(fast::cross_entropy(logits, targets), reduction);
  array x = astype(logits, float32);
  array score = squeeze(take_along_axis(x, expand_dims(astype(targets, int32), ax), ax), {ax});
  array lse = logsumexp(x, ax);
  array loss = subtract(lse, multiply(score, array(1.0f - label_smoothing)));
  if (label_smoothing > 0.0f) {
    loss = subtract(loss, multiply(mean(x, ax), array(label_smoothing)));
  }
  return reduce(loss, reduction);
}

std::pair<array, array> masked_mean(const array& values, const array& mask) {
  array m = astype(mask, float32);
  array count = sum(m);
  // Nothing selected (e.g. a prompt-only training batch): the mean is 0, with a zero gradient,
  // rather than the NaN of 0 / 0.
  array divisor = where(greater(count, array(0.0f)), count, array(1.0f));
  return {divide(sum(multiply(astype(values, float32), m)), divisor), count};
}

std::pair<array, array> lm_loss(const array& logits, const array& tokens, const array& mask) {
  if (tokens.ndim() != 2 || logits.ndim() != 3 || logits.shape(0) != tokens.shape(0) ||
      logits.shape(1) + 1 != tokens.shape(1) || mask.shape() != tokens.shape()) {
    throw std::invalid_argument("[lm_loss] expected logits [B, T, V], tokens and mask [B, T + 1]");
  }
  const int64_t B = tokens.shape(0);
  const int64_t T1 = tokens.shape(1);
  array targets = slice(tokens, {0, 1}, {B, T1});
  array target_mask = slice(mask, {0, 1}, {B, T1});
  return masked_mean(cross_entropy(logits, targets), target_mask);
}

}  // namespace tessera::nn
