// Token sampling in mlx-lm's order: logit processors (logit bias, repetition, presence and
// frequency penalties) on the raw logits, then log-softmax, then either argmax (temp 0) or the
// filters top-p, min-p, top-k followed by a categorical draw at the temperature.
#pragma once

#include "tessera/array.h"

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace tessera::lm {

struct SamplerOptions {
  float temp = 0;            // 0 = greedy
  float top_p = 1;           // applied when 0 < top_p < 1
  float min_p = 0;           // applied when != 0
  int min_tokens_to_keep = 1;
  int top_k = 0;             // applied when 0 < top_k < vocabulary size
  float repetition_penalty = 1;
  int repetition_context_size = 20;
  float presence_penalty = 0;
  float frequency_penalty = 0;
  std::map<int, float> logit_bias;
};

// Throws std::invalid_argument naming the option for values outside their domain.
void validate(const SamplerOptions& options);

// ---- logit processors: logits [..., V], token ids of the context ----
array apply_logit_bias(const array& logits, const std::map<int, float>& bias);
// Divides positive logits by `penalty` and multiplies negative ones, once per distinct token.
array apply_repetition_penalty(const array& logits, const std::vector<int>& context, float penalty);
// Subtracts `penalty` once from every distinct token of the context.
array apply_presence_penalty(const array& logits, const std::vector<int>& context, float penalty);
// Subtracts `penalty` once per occurrence in the context.
array apply_frequency_penalty(const array& logits, const std::vector<int>& context, float penalty);

// ---- filters: log-probabilities [..., V] in, removed tokens set to -inf ----
// Keeps the smallest set of most likely tokens whose probability exceeds top_p.
array apply_top_p(const array& logprobs, float top_p);
// Keeps tokens with probability >= min_p * max probability (and at least min_tokens_to_keep).
array apply_min_p(const array& logprobs, float min_p, int min_tokens_to_keep = 1);
// Keeps the top_k most likely tokens.
array apply_top_k(const array& logprobs, int top_k);

// The whole chain for one generation. Sampling at temperature uses its own random key
// (from the seed, or from the system's entropy), split once per draw, so a seeded run is
// reproducible.
class Sampler {
 public:
  explicit Sampler(SamplerOptions options, std::optional<uint64_t> seed = {});

  // Raw logits [..., V] and the tokens so far -> normalised log-probabilities [..., V] after
  // the logit processors.
  array logprobs(const array& logits, const std::vector<int>& context) const;
  // Log-probabilities [..., V] -> token ids [...] (uint32 for argmax, int32 otherwise).
  array sample(const array& logprobs);

  const SamplerOptions& options() const { return options_; }
  // Whether sample(logprobs(logits, context)) is argmax(logits): greedy, no logit processors.
  bool plain_greedy() const;

 private:
  SamplerOptions options_;
  std::optional<array> key_;
};

}  // namespace tessera::lm
