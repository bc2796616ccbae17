#include "tessera/lm/speculative.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "forward.h"
#include "tessera/memory.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// [1, T, V] -> row t's logits [V].
array row_logits(const array& logits, int64_t t) {
  int64_t V = logits.shape(2);
  return reshape(slice(logits, {0, t, 0}, {1, t + 1, V}), {V});
}

void trim_cache(Cache& cache, int n) {
  if (n <= 0) return;
  for (auto& layer : cache) {
    if (layer->trim(n) != n) throw std::runtime_error("[speculative] A cache could not be rewound.");
  }
}

}  // namespace

void check_draft_model(const LoadedModel& main, const LoadedModel& draft) {
  size_t main_vocab = main.tokenizer ? main.tokenizer->vocab_size() : 0;
  size_t draft_vocab = draft.tokenizer ? draft.tokenizer->vocab_size() : 0;
  if (main.model->vocab_size() != draft.model->vocab_size() || main_vocab != draft_vocab) {
    throw std::invalid_argument("Draft model " + draft.path + " has another vocabulary (" +
                                std::to_string(draft.model->vocab_size()) + " logits, " +
                                std::to_string(draft_vocab) + " tokens) than " + main.path + " (" +
                                std::to_string(main.model->vocab_size()) + " logits, " + std::to_string(main_vocab) +
                                " tokens).");
  }
}

void speculative_stream_generate(const LoadedModel& main, const LoadedModel& draft, const std::vector<int>& prompt,
                                 const GenerateOptions& options, int num_draft_tokens,
                                 const std::function<bool(const GenerationResponse&)>& on_token) {
  if (num_draft_tokens < 1 || num_draft_tokens > kMaxDraftTokens) {
    throw std::invalid_argument("[speculative] num_draft_tokens must be between 1 and " +
                                std::to_string(kMaxDraftTokens) +
                                " (a verification pass of up to 15 tokens is exact), got " +
                                std::to_string(num_draft_tokens) + ".");
  }
  if (options.prompt_cache) {
    throw std::invalid_argument("[speculative] A prompt cache cannot be combined with a draft model.");
  }
  if (options.max_kv_size) {
    throw std::invalid_argument("[speculative] A rotating cache (max_kv_size) cannot be rewound; drop it or the draft model.");
  }
  if (options.max_tokens < 0) throw std::invalid_argument("[speculative] max_tokens must be >= 0.");
  if (options.prefill_step_size < 1) throw std::invalid_argument("[speculative] prefill_step_size must be >= 1.");
  validate(options.sampler);
  if (prompt.empty()) throw std::invalid_argument("[speculative] The prompt has no tokens.");
  if (!main.tokenizer) throw std::invalid_argument("[speculative] " + main.path + " has no tokenizer.");
  check_draft_model(main, draft);
  for (int id : prompt) {
    if (id < 0 || id >= main.model->vocab_size()) {
      throw std::invalid_argument("[speculative] Prompt token id " + std::to_string(id) +
                                  " is outside the model's vocabulary.");
    }
  }
  if (options.max_tokens == 0) return;

  Model& model = *main.model;
  Model& drafter = *draft.model;
  Cache cache = model.make_cache();
  Cache draft_cache = drafter.make_cache();
  Sampler sampler(options.sampler, options.seed);
  Sampler draft_sampler(options.sampler, options.seed);
  const std::vector<int> stops = stop_token_ids(main, options.extra_eos_token_ids);
  auto is_stop = [&](int id) { return std::binary_search(stops.begin(), stops.end(), id); };
  StreamingDetokenizer detokenizer = main.tokenizer->detokenizer();
  std::vector<int> context = prompt;

  auto start = Clock::now();
  detail::prefill(model, prompt.data(), prompt.size() - 1, cache, options.prefill_step_size);
  detail::prefill(drafter, prompt.data(), prompt.size() - 1, draft_cache, options.prefill_step_size);
  double prompt_tps = 0;
  Clock::time_point decode_start;

  // `y`: the last emitted token, not yet fed to either model. `draft_pending`: tokens the draft
  // still has to see before y (the last accepted draft token when all drafts were accepted).
  int y = prompt.back();
  std::vector<int> draft_pending;
  int emitted = 0;
  bool first = true;
  while (true) {
    const int k = std::min(num_draft_tokens, options.max_tokens - emitted - 1);
    // The draft proposes k tokens, one at a time.
    std::vector<int> drafts;
    std::vector<int> draft_context = context;
    std::vector<int> feed = draft_pending;
    feed.push_back(y);
    draft_pending.clear();
    for (int i = 0; i < k; ++i) {
      array logits = drafter(detail::token_batch(feed.data(), feed.size()), &draft_cache);
      array lp = draft_sampler.logprobs(detail::last_logits(logits), draft_context);
      int d = draft_sampler.sample(lp).item<int>();
      drafts.push_back(d);
      draft_context.push_back(d);
      feed = {d};
    }
    // The main model verifies y and the drafts in one pass: position i predicts the token after
    // the i-th input.
    std::vector<int> verify = {y};
    verify.insert(verify.end(), drafts.begin(), drafts.end());
    array logits = model(detail::token_batch(verify.data(), verify.size()), &cache);
    std::vector<int> verify_context = context;
    int accepted = 0;
    std::vector<std::pair<int, array>> out;
    for (int i = 0; i <= k; ++i) {
      array lp = sampler.logprobs(row_logits(logits, i), verify_context);
      array token = sampler.sample(lp);
      eval(token, lp);
      int t = token.item<int>();
      out.emplace_back(t, lp);
      verify_context.push_back(t);
      if (i == k || t != drafts[i]) break;
      ++accepted;
    }
    // Rewind what was computed for rejected drafts: the main model keeps y and the accepted
    // drafts; the draft model saw y and drafts[0, k-1).
    trim_cache(cache, k - accepted);
    if (accepted == k) {
      if (k > 0) draft_pending.push_back(drafts[k - 1]);
    } else {
      trim_cache(draft_cache, k - 1 - accepted);
    }
    if (first) {
      prompt_tps = static_cast<double>(prompt.size()) / seconds_since(start);
      decode_start = Clock::now();
      first = false;
    }

    for (size_t i = 0; i < out.size(); ++i) {
      auto& [t, lp] = out[i];
      GenerationResponse r;
      r.token = t;
      r.logprobs = lp;
      r.from_draft = static_cast<int>(i) < accepted;
      r.prompt_tokens = static_cast<int>(prompt.size());
      r.prompt_tps = prompt_tps;
      r.generation_tokens = ++emitted;
      bool stop = is_stop(t);
      if (!stop) detokenizer.add_token(t);
      bool last = stop || emitted == options.max_tokens;
      if (last) {
        detokenizer.finalize();
        r.finish_reason = stop ? "stop" : "length";
      }
      r.text = detokenizer.last_segment();
      r.generation_tps = emitted / std::max(seconds_since(decode_start), 1e-9);
      r.peak_memory = static_cast<double>(get_peak_memory()) / 1e9;
      if (!on_token(r) || last) return;
      context.push_back(t);
    }
    y = out.back().first;
  }
}

}  // namespace tessera::lm
