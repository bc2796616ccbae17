// Batched generation: several prompts decoded together through one left-padded batch cache,
// each sequence stopping on its own; a finished sequence frees its slot for the next waiting
// prompt (continuous batching), as mlx-lm's batch_generate does.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/lm/kv_cache.h"
#include "tessera/lm/model.h"
#include "tessera/lm/sample.h"

namespace tessera::lm {

// One layer's cache for a batch of sequences of different lengths: row b holds left_padding(b)
// padding columns, then its tokens. Row b's next token is at position length() -
// left_padding(b) (row_offsets()), as it would be decoded alone: rotary embeddings only need
// relative positions, but the same absolute ones round the same way, so each row computes
// exactly what its sequence computes alone. offset() is the batch's clock, which caches joined
// by extend() share: the longest of the first prompts sets it, so a row that joins later may be
// further on.
class BatchKVCache : public KVCache {
 public:
  explicit BatchKVCache(std::vector<int> left_padding, int start_offset = 0);

  std::pair<array, array> update_and_fetch(const array& keys, const array& values) override;
  int offset() const override { return offset_; }
  std::optional<array> row_offsets() const override;
  // Causal, and no query sees its row's padding: an explicit mask [B, 1, T, length() + T]; with
  // no padding, a plain cache's mask (create_attention_mask).
  AttentionMask make_mask(int T, std::optional<int> window) const override;
  std::vector<array> state() const override;
  void set_state(const std::vector<array>& state) override;
  std::string name() const override { return "BatchKVCache"; }

  int length() const;  // storage columns written
  int batch_size() const { return static_cast<int>(left_padding_.size()); }
  const std::vector<int>& left_padding() const { return left_padding_; }
  // Keeps the given rows (in that order) and drops padding columns no row needs any more.
  void filter(const std::vector<int>& rows);
  // Appends the rows of `other` (at the same offset()), left-padding whichever holds fewer
  // columns so the time axes line up.
  void extend(const BatchKVCache& other);
  // The rows of all `caches` (at one offset()) in order as one cache, each left-padded to the
  // longest: what extending one by one gives, with one copy of the rows instead of one per step.
  static std::shared_ptr<BatchKVCache> merge(const std::vector<std::shared_ptr<BatchKVCache>>& caches);

 private:
  void set_rows(const array& keys, const array& values);

  std::vector<int> left_padding_;
  StandardKVCache storage_;  // columns of every row, padding included
  int offset_ = 0;
};

struct BatchGenerateOptions {
  int max_tokens = 256;
  SamplerOptions sampler;
  std::optional<uint64_t> seed;  // sequence i samples with seed + i
  int batch_size = 8;            // sequences decoded at once
  int prefill_step_size = 2048;  // prompt columns per prefill pass
  std::vector<int> extra_eos_token_ids;
};

struct BatchSequenceResult {
  std::vector<int> tokens;    // generated ids, including the end-of-sequence id that stopped it
  std::string text;           // their text, without the end-of-sequence token
  std::string finish_reason;  // "stop" | "length"
};

struct BatchGenerateResult {
  std::vector<BatchSequenceResult> results;  // in the order of the prompts
  int prompt_tokens = 0;
  int generation_tokens = 0;
  double prompt_tps = 0;
  double generation_tps = 0;
  double peak_memory = 0;  // GB
};

// Generates for every prompt (token ids, already templated). on_finish, when given, is called
// with a prompt's index as soon as its sequence is done.
BatchGenerateResult batch_generate(const LoadedModel& loaded, const std::vector<std::vector<int>>& prompts,
                                   const BatchGenerateOptions& options,
                                   const std::function<void(int, const BatchSequenceResult&)>& on_finish = {});

}  // namespace tessera::lm
