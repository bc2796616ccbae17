#include "tessera/lm/generate.h"

#include <algorithm>
#include <chrono>
#include <set>
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

void check_options(const GenerateOptions& options) {
  if (options.max_tokens < 0) {
    throw std::invalid_argument("[generate] max_tokens must be >= 0, got " + std::to_string(options.max_tokens) + ".");
  }
  if (options.prefill_step_size < 1) {
    throw std::invalid_argument("[generate] prefill_step_size must be >= 1, got " +
                                std::to_string(options.prefill_step_size) + ".");
  }
  if (options.max_kv_size && *options.max_kv_size < 1) {
    throw std::invalid_argument("[generate] max_kv_size must be >= 1, got " + std::to_string(*options.max_kv_size) + ".");
  }
  validate(options.sampler);
}

}  // namespace

std::vector<int> stop_token_ids(const LoadedModel& loaded, const std::vector<int>& extra) {
  std::set<int> ids(loaded.generation_config.eos_token_ids.begin(), loaded.generation_config.eos_token_ids.end());
  if (loaded.tokenizer) {
    for (int id : loaded.tokenizer->eos_token_ids()) ids.insert(id);
  }
  ids.insert(extra.begin(), extra.end());
  return std::vector<int>(ids.begin(), ids.end());
}

void stream_generate(const LoadedModel& loaded, const std::vector<int>& prompt, const GenerateOptions& options,
                     const std::function<bool(const GenerationResponse&)>& on_token) {
  check_options(options);
  if (prompt.empty()) throw std::invalid_argument("[generate] The prompt has no tokens.");
  if (!loaded.tokenizer) throw std::invalid_argument("[generate] " + loaded.path + " has no tokenizer.");
  if (options.max_tokens == 0) return;
  Model& model = *loaded.model;
  for (int id : prompt) {
    if (id < 0 || id >= model.vocab_size()) {
      throw std::invalid_argument("[generate] Prompt token id " + std::to_string(id) +
                                  " is outside the model's vocabulary of " + std::to_string(model.vocab_size()) + ".");
    }
  }

  Cache fresh;
  if (!options.prompt_cache) fresh = model.make_cache(options.max_kv_size);
  Cache& cache = options.prompt_cache ? *options.prompt_cache : fresh;
  Sampler sampler(options.sampler, options.seed);
  const std::vector<int> stops = stop_token_ids(loaded, options.extra_eos_token_ids);
  auto is_stop = [&](int id) { return std::binary_search(stops.begin(), stops.end(), id); };
  StreamingDetokenizer detokenizer = loaded.tokenizer->detokenizer();
  std::vector<int> context = prompt;  // what the penalties look back on

  // One forward pass over `n` tokens, then sample from the last position.
  auto step = [&](const int* ids, size_t n) {
    array logprobs = sampler.logprobs(detail::last_logits(model(detail::token_batch(ids, n), &cache)), context);
    array token = sampler.sample(logprobs);
    eval(token, logprobs);
    return std::pair<int, array>(token.item<int>(), logprobs);
  };

  auto start = Clock::now();
  // All but the last prompt token go through in chunks that only fill the cache.
  detail::prefill(model, prompt.data(), prompt.size() - 1, cache, options.prefill_step_size);
  auto [token, logprobs] = step(prompt.data() + prompt.size() - 1, 1);
  const double prompt_tps = static_cast<double>(prompt.size()) / seconds_since(start);
  auto decode_start = Clock::now();

  for (int n = 0;; ++n) {
    GenerationResponse r;
    r.token = token;
    r.logprobs = logprobs;
    r.prompt_tokens = static_cast<int>(prompt.size());
    r.prompt_tps = prompt_tps;
    r.generation_tokens = n + 1;
    bool stop = is_stop(token);
    if (!stop) detokenizer.add_token(token);
    bool last = stop || n + 1 == options.max_tokens;
    if (last) {
      detokenizer.finalize();
      r.finish_reason = stop ? "stop" : "length";
    }
    r.text = detokenizer.last_segment();
    r.generation_tps = (n + 1) / seconds_since(decode_start);
    r.peak_memory = static_cast<double>(get_peak_memory()) / 1e9;
    if (!on_token(r) || last) return;
    context.push_back(token);
    const int fed = token;
    std::tie(token, logprobs) = step(&fed, 1);
  }
}

std::string generate(const LoadedModel& loaded, const std::string& prompt, const GenerateOptions& options) {
  const std::string& bos = loaded.tokenizer->bos_token();
  bool add_special = bos.empty() || !prompt.starts_with(bos);
  std::string text;
  stream_generate(loaded, loaded.tokenizer->encode(prompt, add_special), options,
                  [&](const GenerationResponse& r) {
                    text += r.text;
                    return true;
                  });
  return text;
}

}  // namespace tessera::lm
