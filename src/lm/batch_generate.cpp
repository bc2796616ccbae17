#include "tessera/lm/batch_generate.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <stdexcept>

#include "lm/forward.h"
#include "tessera/lm/generate.h"
#include "tessera/memory.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

array slice_time(const array& a, int start, int stop) {
  return slice(a, {0, 0, start, 0}, {a.shape(0), a.shape(1), stop, a.shape(3)});
}

array left_pad_time(const array& a, int n) {
  if (n == 0) return a;
  return concatenate({zeros({a.shape(0), a.shape(1), n, a.shape(3)}, a.dtype()), a}, 2);
}

// One sequence of the batch.
struct Sequence {
  int index;
  Sampler sampler;
  std::vector<int> context;  // prompt and generated tokens, for the penalties
  StreamingDetokenizer detokenizer;
  BatchSequenceResult result;
  int next = 0;  // the last sampled token, fed at the next step
};

// Prefills prompts[picked] and joins them to the running batch `layers` (one cache per layer,
// empty for none); returns the logits of their last tokens [picked, 1, V]. Each prompt but its
// last token fills a cache of its own (a padded batch pass would take other attention kernels and
// key alignments than the prompt alone); the last tokens then go through one step of the merged
// rows, as decoding steps do. So a sequence's cache and first logits are exactly its prompt's
// alone.
array join_prompts(Model& model, const std::vector<std::vector<int>>& prompts, const std::vector<int>& picked,
                   int prefill_step_size, std::vector<std::shared_ptr<BatchKVCache>>& layers) {
  // After the last tokens' step the new rows' clock is the running batch's, as extend()
  // requires; their rotary positions are their own (row_offsets).
  int clock = 0;
  if (!layers.empty()) {
    clock = layers[0]->offset();
  } else {
    for (int i : picked) clock = std::max(clock, static_cast<int>(prompts[i].size()));
  }
  std::vector<std::vector<std::shared_ptr<BatchKVCache>>> fresh(model.num_layers());
  std::vector<int> last_tokens;
  for (int i : picked) {
    const std::vector<int>& prompt = prompts[i];
    Cache cache;
    for (auto& layer : fresh) {
      layer.push_back(std::make_shared<BatchKVCache>(std::vector<int>{0}, clock - static_cast<int>(prompt.size())));
      cache.push_back(layer.back());
    }
    detail::prefill(model, prompt.data(), prompt.size() - 1, cache, prefill_step_size);
    last_tokens.push_back(prompt.back());
  }
  std::vector<std::shared_ptr<BatchKVCache>> joined;
  for (const auto& layer : fresh) joined.push_back(BatchKVCache::merge(layer));
  Cache joined_cache(joined.begin(), joined.end());
  const array logits =
      model(array(last_tokens.data(), {static_cast<int64_t>(last_tokens.size()), 1}, int32), &joined_cache);
  eval(logits);
  if (layers.empty()) {
    layers = joined;
  } else {
    for (size_t l = 0; l < layers.size(); ++l) layers[l]->extend(*joined[l]);
  }
  detail::eval_cache(Cache(layers.begin(), layers.end()));
  return logits;
}

}  // namespace

BatchKVCache::BatchKVCache(std::vector<int> left_padding, int start_offset)
    : left_padding_(std::move(left_padding)), offset_(start_offset) {}

int BatchKVCache::length() const { return storage_.offset(); }

// The storage grows in steps and takes each update in place (StandardKVCache): concatenating
// every step copied the whole cache and, as it grew through the allocator's size classes,
// faulted in fresh pages (8 sequences of a 1B model: ~800 page faults per step).
std::pair<array, array> BatchKVCache::update_and_fetch(const array& keys, const array& values) {
  if (keys.shape(0) != batch_size()) {
    throw std::invalid_argument("[BatchKVCache] Keys for " + std::to_string(keys.shape(0)) + " rows, the cache has " +
                                std::to_string(batch_size()) + ".");
  }
  auto stored = storage_.update_and_fetch(keys, values);
  offset_ += static_cast<int>(keys.shape(2));
  return stored;
}

// The rows' storage with room for StandardKVCache::step more columns: made once here, while
// the rows are copied anyway, instead of by the growth of the next decoding step.
void BatchKVCache::set_rows(const array& keys, const array& values) {
  auto room = [](const array& a) {
    return concatenate({a, zeros({a.shape(0), a.shape(1), StandardKVCache::step, a.shape(3)}, a.dtype())}, 2);
  };
  storage_.set_state({room(keys), room(values)});
  storage_.trim(StandardKVCache::step);
}

std::optional<array> BatchKVCache::row_offsets() const {
  std::vector<int> next(left_padding_.size());
  for (size_t b = 0; b < next.size(); ++b) next[b] = length() - left_padding_[b];
  return array(next.data(), {batch_size()}, int32);
}

AttentionMask BatchKVCache::make_mask(int T, std::optional<int> window) const {
  const int B = batch_size();
  const int S = length();
  // Without padding, the mask of a cache that keeps everything: a prompt prefilled on its own
  // then attends as it does in a plain cache.
  if (std::all_of(left_padding_.begin(), left_padding_.end(), [](int l) { return l == 0; })) {
    return create_attention_mask(T, S, window);
  }
  // In storage columns: the T queries are the columns after the stored ones.
  array key_pos = reshape(arange(0, S + T), {1, 1, 1, S + T});
  array query_pos = reshape(arange(S, S + T), {1, 1, T, 1});
  array left = reshape(array(left_padding_.data(), {B}, int32), {B, 1, 1, 1});
  array mask = logical_and(less_equal(key_pos, query_pos), greater_equal(key_pos, left));
  if (window) mask = logical_and(mask, less(query_pos, add(key_pos, array(*window))));
  return {"", mask};
}

std::vector<array> BatchKVCache::state() const { return storage_.state(); }

void BatchKVCache::set_state(const std::vector<array>& state) {
  if (state.size() != 2 || state[0].ndim() != 4 || state[0].shape(0) != batch_size()) {
    throw std::invalid_argument("[BatchKVCache] A state is [keys, values] of [B, H, T, D] for its rows.");
  }
  storage_.set_state(state);
}

void BatchKVCache::filter(const std::vector<int>& rows) {
  std::vector<int> left;
  for (int r : rows) left.push_back(left_padding_.at(r));
  left_padding_ = left;
  const std::vector<array> kv = state();
  if (kv.empty()) return;
  array idx(rows.data(), {static_cast<int64_t>(rows.size())}, int32);
  const int drop = left.empty() ? 0 : *std::min_element(left.begin(), left.end());
  set_rows(take(slice_time(kv[0], drop, length()), idx, 0), take(slice_time(kv[1], drop, length()), idx, 0));
  for (int& l : left_padding_) l -= drop;
}

void BatchKVCache::extend(const BatchKVCache& other) {
  if (length() == 0 || other.length() == 0) throw std::invalid_argument("[BatchKVCache] extend needs two filled caches.");
  if (offset_ != other.offset_) {
    throw std::invalid_argument("[BatchKVCache] extend needs caches at the same position, got " +
                                std::to_string(offset_) + " and " + std::to_string(other.offset_) + ".");
  }
  const int total = std::max(length(), other.length());
  const int mine = total - length();
  const int theirs = total - other.length();
  const std::vector<array> kv = state(), others = other.state();
  set_rows(concatenate({left_pad_time(kv[0], mine), left_pad_time(others[0], theirs)}, 0),
           concatenate({left_pad_time(kv[1], mine), left_pad_time(others[1], theirs)}, 0));
  for (int& l : left_padding_) l += mine;
  for (int l : other.left_padding_) left_padding_.push_back(l + theirs);
}

std::shared_ptr<BatchKVCache> BatchKVCache::merge(const std::vector<std::shared_ptr<BatchKVCache>>& caches) {
  if (caches.empty()) throw std::invalid_argument("[BatchKVCache] merge needs at least one cache.");
  const BatchKVCache* longest = caches[0].get();
  for (const auto& c : caches) {
    if (c->offset() != caches[0]->offset()) {
      throw std::invalid_argument("[BatchKVCache] merge needs caches at one position, got " +
                                  std::to_string(caches[0]->offset()) + " and " + std::to_string(c->offset()) + ".");
    }
    if (c->length() > longest->length()) longest = c.get();
  }
  const int total = longest->length();
  std::vector<int> left;
  std::vector<array> keys, values;
  for (const auto& c : caches) {
    const int pad = total - c->length();
    for (int l : c->left_padding_) left.push_back(l + pad);
    if (total == 0) continue;
    if (c->length() == 0) {
      // No columns yet (a prompt of one token): all padding, shaped as the longest's rows.
      for (auto [kv, out] : {std::pair{longest->state()[0], &keys}, std::pair{longest->state()[1], &values}})
        out->push_back(zeros({c->batch_size(), kv.shape(1), total, kv.shape(3)}, kv.dtype()));
      continue;
    }
    const std::vector<array> kv = c->state();
    keys.push_back(left_pad_time(kv[0], pad));
    values.push_back(left_pad_time(kv[1], pad));
  }
  auto merged = std::make_shared<BatchKVCache>(left, caches[0]->offset());
  if (total > 0) merged->set_rows(concatenate(keys, 0), concatenate(values, 0));
  return merged;
}

BatchGenerateResult batch_generate(const LoadedModel& loaded, const std::vector<std::vector<int>>& prompts,
                                   const BatchGenerateOptions& options,
                                   const std::function<void(int, const BatchSequenceResult&)>& on_finish) {
  if (options.batch_size < 1) throw std::invalid_argument("[batch_generate] batch_size must be >= 1.");
  if (options.max_tokens < 1) throw std::invalid_argument("[batch_generate] max_tokens must be >= 1.");
  if (options.prefill_step_size < 1) throw std::invalid_argument("[batch_generate] prefill_step_size must be >= 1.");
  if (!loaded.tokenizer) throw std::invalid_argument("[batch_generate] " + loaded.path + " has no tokenizer.");
  validate(options.sampler);
  Model& model = *loaded.model;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw std::invalid_argument("[batch_generate] Prompt " + std::to_string(i) + " has no tokens.");
    for (int id : prompts[i]) {
      if (id < 0 || id >= model.vocab_size()) {
        throw std::invalid_argument("[batch_generate] Prompt " + std::to_string(i) + " has token id " +
                                    std::to_string(id) + " outside the model's vocabulary.");
      }
    }
  }
  const std::vector<int> stops = stop_token_ids(loaded, options.extra_eos_token_ids);
  auto is_stop = [&](int id) { return std::binary_search(stops.begin(), stops.end(), id); };

  BatchGenerateResult out;
  out.results.resize(prompts.size());
  std::deque<int> waiting;
  for (size_t i = 0; i < prompts.size(); ++i) waiting.push_back(static_cast<int>(i));
  std::vector<Sequence> active;
  std::vector<std::shared_ptr<BatchKVCache>> layers;
  double prompt_seconds = 0;
  double decode_seconds = 0;

  // Samples each row's next token from logits [B, T, V] (the last position) for sequences
  // active[first...]; returns false for rows that finished.
  auto sample_rows = [&](const array& logits, size_t first) {
    const int64_t T = logits.shape(1);
    const int64_t V = logits.shape(2);
    array last = reshape(slice(logits, {0, T - 1, 0}, {logits.shape(0), T, V}), {logits.shape(0), V});
    // Greedy rows without logit processors need no log-probabilities: one argmax for all.
    std::optional<std::vector<uint32_t>> greedy;
    if (active[first].sampler.plain_greedy()) {
      greedy = argmax(last, -1).to_vector<uint32_t>();
    } else {
      eval(last);
    }
    std::vector<bool> alive;
    for (size_t r = first; r < active.size(); ++r) {
      Sequence& s = active[r];
      const int64_t i = static_cast<int64_t>(r - first);
      int token = greedy ? static_cast<int>((*greedy)[i])
                         : s.sampler.sample(s.sampler.logprobs(reshape(slice(last, {i, 0}, {i + 1, V}), {V}), s.context))
                               .item<int>();
      s.result.tokens.push_back(token);
      s.context.push_back(token);
      s.next = token;
      ++out.generation_tokens;
      bool stop = is_stop(token);
      if (!stop) s.detokenizer.add_token(token);
      bool done = stop || static_cast<int>(s.result.tokens.size()) == options.max_tokens;
      if (done) {
        s.detokenizer.finalize();
        s.result.text = s.detokenizer.text();
        s.result.finish_reason = stop ? "stop" : "length";
      }
      alive.push_back(!done);
    }
    return alive;
  };

  while (!waiting.empty() || !active.empty()) {
    std::vector<bool> alive;
    if (static_cast<int>(active.size()) < options.batch_size && !waiting.empty()) {
      auto start = Clock::now();
      size_t n = std::min(static_cast<size_t>(options.batch_size) - active.size(), waiting.size());
      std::vector<int> picked(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(n));
      waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(n));
      for (int i : picked) out.prompt_tokens += static_cast<int>(prompts[i].size());
      const array logits = join_prompts(model, prompts, picked, options.prefill_step_size, layers);
      const size_t first = active.size();
      for (int i : picked) {
        std::optional<uint64_t> seed;
        if (options.seed) seed = *options.seed + static_cast<uint64_t>(i);
        active.push_back(Sequence{i, Sampler(options.sampler, seed), prompts[i], loaded.tokenizer->detokenizer(), {}, 0});
      }
      std::vector<bool> fresh_alive = sample_rows(logits, first);
      alive.assign(first, true);
      alive.insert(alive.end(), fresh_alive.begin(), fresh_alive.end());
      prompt_seconds += seconds_since(start);
    } else {
      auto start = Clock::now();
      std::vector<int> ids;
      for (const auto& s : active) ids.push_back(s.next);
      Cache cache(layers.begin(), layers.end());
      array logits = model(array(ids.data(), {static_cast<int64_t>(ids.size()), 1}, int32), &cache);
      alive = sample_rows(logits, 0);
      decode_seconds += seconds_since(start);
    }
    // Finished sequences leave the batch and free their rows.
    std::vector<int> keep;
    std::vector<Sequence> still;
    for (size_t r = 0; r < active.size(); ++r) {
      if (alive[r]) {
        keep.push_back(static_cast<int>(r));
        still.push_back(std::move(active[r]));
      } else {
        out.results[active[r].index] = active[r].result;
        if (on_finish) on_finish(active[r].index, active[r].result);
      }
    }
    if (keep.size() != active.size()) {
      if (keep.empty()) {
        layers.clear();
      } else {
        for (auto& l : layers) l->filter(keep);
      }
    }
    active = std::move(still);
  }
  out.prompt_tps = prompt_seconds > 0 ? out.prompt_tokens / prompt_seconds : 0;
  out.generation_tps = decode_seconds > 0 ? out.generation_tokens / decode_seconds : 0;
  out.peak_memory = static_cast<double>(get_peak_memory()) / 1e9;
  return out;
}

}  // namespace tessera::lm
