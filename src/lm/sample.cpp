#include "tessera/lm/sample.h"

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "tessera/ops.h"
#include "tessera/random.h"

namespace tessera::lm {

namespace {

const float kNegInf = -std::numeric_limits<float>::infinity();

void check_ids(const char* op, const std::vector<int>& ids, int64_t vocab) {
  for (int id : ids) {
    if (id < 0 || id >= vocab) {
      throw std::invalid_argument(std::string("[") + op + "] Token id " + std::to_string(id) +
                                  " is outside the vocabulary of " + std::to_string(vocab) + " tokens.");
    }
  }
}

// The ids as an index array shaped to address the last axis of `like` ([..., K]).
array last_axis_indices(const array& like, const std::vector<int>& ids) {
  Shape shape(like.ndim(), 1);
  shape.back() = static_cast<int64_t>(ids.size());
  array idx = reshape(array(ids, {static_cast<int64_t>(ids.size())}, int32), shape);
  shape = like.shape();
  shape.back() = static_cast<int64_t>(ids.size());
  return broadcast_to(idx, shape);
}

// Replaces logits[..., ids] by f(logits[..., ids]).
template <class F>
array update_at(const array& logits, const std::vector<int>& ids, F f) {
  array idx = last_axis_indices(logits, ids);
  return put_along_axis(logits, idx, f(take_along_axis(logits, idx, -1)), -1);
}

std::vector<int> recent(const std::vector<int>& context, int size) {
  if (size <= 0 || static_cast<int>(context.size()) <= size) return context;
  return std::vector<int>(context.end() - size, context.end());
}

std::vector<int> distinct(const std::vector<int>& ids) {
  std::set<int> s(ids.begin(), ids.end());
  return std::vector<int>(s.begin(), s.end());
}

uint64_t entropy_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

void validate(const SamplerOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("[sampler] " + what); };
  if (!(o.temp >= 0) || !std::isfinite(o.temp)) fail("temp must be a finite number >= 0, got " + std::to_string(o.temp) + ".");
  if (!(o.top_p >= 0 && o.top_p <= 1)) fail("top_p must be in [0, 1], got " + std::to_string(o.top_p) + ".");
  if (!(o.min_p >= 0 && o.min_p <= 1)) fail("min_p must be in [0, 1], got " + std::to_string(o.min_p) + ".");
  if (o.min_tokens_to_keep < 1) fail("min_tokens_to_keep must be >= 1, got " + std::to_string(o.min_tokens_to_keep) + ".");
  if (o.top_k < 0) fail("top_k must be >= 0, got " + std::to_string(o.top_k) + ".");
  if (!(o.repetition_penalty >= 0) || !std::isfinite(o.repetition_penalty)) {
    fail("repetition_penalty must be a finite number >= 0, got " + std::to_string(o.repetition_penalty) + ".");
  }
  if (o.repetition_context_size < 0) {
    fail("repetition_context_size must be >= 0, got " + std::to_string(o.repetition_context_size) + ".");
  }
  if (!std::isfinite(o.presence_penalty)) fail("presence_penalty must be finite.");
  if (!std::isfinite(o.frequency_penalty)) fail("frequency_penalty must be finite.");
}

array apply_logit_bias(const array& logits, const std::map<int, float>& bias) {
  if (bias.empty()) return logits;
  std::vector<int> ids;
  std::vector<float> values;
  for (const auto& [id, v] : bias) {
    ids.push_back(id);
    values.push_back(v);
  }
  check_ids("logit_bias", ids, logits.shape(-1));
  array add_values = astype(array(values, {static_cast<int64_t>(values.size())}, float32), logits.dtype());
  return update_at(logits, ids, [&](const array& x) { return add(x, add_values); });
}

array apply_repetition_penalty(const array& logits, const std::vector<int>& context, float penalty) {
  if (context.empty() || penalty == 1.0f) return logits;
  std::vector<int> ids = distinct(context);
  check_ids("repetition_penalty", ids, logits.shape(-1));
  array p(penalty);
  return update_at(logits, ids, [&](const array& x) {
    return where(less(x, array(0.0f)), multiply(x, p), divide(x, p));
  });
}

array apply_presence_penalty(const array& logits, const std::vector<int>& context, float penalty) {
  if (context.empty() || penalty == 0.0f) return logits;
  std::vector<int> ids = distinct(context);
  check_ids("presence_penalty", ids, logits.shape(-1));
  return update_at(logits, ids, [&](const array& x) { return subtract(x, array(penalty)); });
}

array apply_frequency_penalty(const array& logits, const std::vector<int>& context, float penalty) {
  if (context.empty() || penalty == 0.0f) return logits;
  std::map<int, int> counts;
  for (int id : context) ++counts[id];
  std::vector<int> ids;
  std::vector<float> amounts;
  for (const auto& [id, n] : counts) {
    ids.push_back(id);
    amounts.push_back(penalty * static_cast<float>(n));
  }
  check_ids("frequency_penalty", ids, logits.shape(-1));
  array sub = astype(array(amounts, {static_cast<int64_t>(amounts.size())}, float32), logits.dtype());
  return update_at(logits, ids, [&](const array& x) { return subtract(x, sub); });
}

array apply_top_p(const array& logprobs, float top_p) {
  array order = argsort(logprobs, -1);  // ascending
  array sorted_probs = exp(take_along_axis(logprobs, order, -1));
  array sorted_keep = greater(cumsum(sorted_probs, -1), array(1.0f - top_p));
  array keep = put_along_axis(zeros_like(sorted_keep), order, sorted_keep, -1);
  return where(keep, logprobs, array(kNegInf));
}

array apply_min_p(const array& logprobs, float min_p, int min_tokens_to_keep) {
  array threshold = add(max(logprobs, -1, true), array(std::log(min_p)));
  array remove = less(logprobs, threshold);
  int64_t vocab = logprobs.shape(-1);
  if (min_tokens_to_keep > 1) {
    int keep = static_cast<int>(std::min<int64_t>(min_tokens_to_keep, vocab));
    array top = argpartition(logprobs, static_cast<int>(vocab - keep), -1);
    Shape start(top.ndim(), 0);
    start.back() = vocab - keep;
    top = slice(top, start, top.shape());
    remove = put_along_axis(remove, top, zeros(top.shape(), bool_), -1);
  }
  return where(remove, array(kNegInf), logprobs);
}

array apply_top_k(const array& logprobs, int top_k) {
  int64_t vocab = logprobs.shape(-1);
  if (top_k <= 0 || top_k >= vocab) return logprobs;
  array order = argpartition(negative(logprobs), top_k - 1, -1);
  Shape start(order.ndim(), 0);
  start.back() = top_k;
  array drop = slice(order, start, order.shape());
  return put_along_axis(logprobs, drop, full(drop.shape(), array(kNegInf), logprobs.dtype()), -1);
}

Sampler::Sampler(SamplerOptions options, std::optional<uint64_t> seed) : options_(std::move(options)) {
  validate(options_);
  if (options_.temp > 0) key_ = random::key(seed ? *seed : entropy_seed());
}

array Sampler::logprobs(const array& logits, const std::vector<int>& context) const {
  array x = logits.dtype() == float32 ? logits : astype(logits, float32);
  x = apply_logit_bias(x, options_.logit_bias);
  if (options_.repetition_penalty != 1.0f) {
    x = apply_repetition_penalty(x, recent(context, options_.repetition_context_size), options_.repetition_penalty);
  }
  if (options_.presence_penalty != 0.0f) {
    x = apply_presence_penalty(x, recent(context, options_.repetition_context_size), options_.presence_penalty);
  }
  if (options_.frequency_penalty != 0.0f) {
    x = apply_frequency_penalty(x, recent(context, options_.repetition_context_size), options_.frequency_penalty);
  }
  return subtract(x, logsumexp(x, -1, true));
}

bool Sampler::plain_greedy() const {
  return options_.temp == 0 && options_.logit_bias.empty() && options_.repetition_penalty == 1.0f &&
         options_.presence_penalty == 0.0f && options_.frequency_penalty == 0.0f;
}

array Sampler::sample(const array& logprobs) {
  if (options_.temp == 0) return argmax(logprobs, -1);
  array x = logprobs;
  if (options_.top_p > 0 && options_.top_p < 1) x = apply_top_p(x, options_.top_p);
  if (options_.min_p != 0) x = apply_min_p(x, options_.min_p, options_.min_tokens_to_keep);
  if (options_.top_k > 0) x = apply_top_k(x, options_.top_k);
  auto keys = random::split(*key_, 2);
  key_ = keys[0];
  return random::categorical(multiply(x, array(1.0f / options_.temp)), -1, std::nullopt, keys[1]);
}

}  // namespace tessera::lm
