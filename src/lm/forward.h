// Small pieces shared by generation, perplexity and benchmarking: token batches, filling a
// cache without computing logits, and the last position's logits.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "tessera/lm/model.h"
#include "tessera/ops.h"

namespace tessera::lm::detail {

inline array token_batch(const int* ids, size_t n) {
  return array(ids, {1, static_cast<int64_t>(n)}, int32);
}

// Computes what the cache holds; the logits of the pass that filled it are never computed.
inline void eval_cache(const Cache& cache) {
  std::vector<array> state;
  for (const auto& layer : cache) {
    for (const auto& a : layer->state()) state.push_back(a);
  }
  eval(state);
}

// Feeds ids[0, n) through the model in chunks of `step` tokens, only filling the cache.
inline void prefill(Model& model, const int* ids, size_t n, Cache& cache, int step) {
  for (size_t done = 0; done < n;) {
    size_t chunk = std::min<size_t>(static_cast<size_t>(step), n - done);
    model(token_batch(ids + done, chunk), &cache);
    eval_cache(cache);
    done += chunk;
  }
}

// [1, T, V] -> the last position's logits [V].
inline array last_logits(const array& logits) {
  int64_t T = logits.shape(1);
  int64_t V = logits.shape(2);
  return reshape(slice(logits, {0, T - 1, 0}, {1, T, V}), {V});
}

}  // namespace tessera::lm::detail
