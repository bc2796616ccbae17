// Flags of `tessera generate` for the generation power features: continuing from a prompt
// cache file, a quantized KV cache, speculative decoding with a draft model, batched generation
// of a prompts file. Kept apart from model_options.h so that generate.cpp only hooks them in.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "model_options.h"
#include "tessera/lm/batch_generate.h"
#include "tessera/lm/prompt_cache.h"
#include "tessera/lm/quantized_kv_cache.h"
#include "tessera/lm/speculative.h"

namespace tessera::cli {

// --kv-bits/--kv-group-size/--quantized-kv-start, shared by generate and cache_prompt.
struct KVQuantizationFlags {
  int bits = 0;
  int group_size = 64;
  int start = 0;
  CLI::Option* bits_option = nullptr;

  bool given() const { return bits_option && bits_option->count() > 0; }
};

inline void add_kv_quantization_flags(CLI::App& app, KVQuantizationFlags& flags) {
  flags.bits_option = app.add_option("--kv-bits", flags.bits, "Store the KV cache quantized to this many bits (4 or 8)");
  app.add_option("--kv-group-size", flags.group_size,
                 "Features per quantization group of the KV cache (a divisor of the head size)")
      ->capture_default_str();
  app.add_option("--quantized-kv-start", flags.start,
                 "With --kv-bits, keep the cache in floating point until it holds more than this many tokens")
      ->capture_default_str();
}

// A fresh quantized cache for the model, after checking the flags.
inline lm::Cache make_kv_quantized_cache(const KVQuantizationFlags& flags, const lm::Model& model) {
  lm::check_kv_quantization(flags.bits, flags.group_size);
  if (flags.start < 0) throw std::invalid_argument("--quantized-kv-start must be >= 0.");
  return lm::make_quantized_cache(model, flags.bits, flags.group_size, flags.start);
}

struct PowerFlags {
  std::string prompt_cache_file;
  KVQuantizationFlags kv;
  std::string draft_model;
  int num_draft_tokens = 3;
  std::string prompts_file;
  int batch_size = 8;
  CLI::Option* model_option = nullptr;
  CLI::Option* chat_template_config_option = nullptr;
};

inline void add_power_flags(CLI::App& app, PowerFlags& flags) {
  flags.model_option = app.get_option("--model");
  flags.chat_template_config_option = app.get_option_no_throw("--chat-template-config");
  app.add_option("--prompt-cache-file", flags.prompt_cache_file,
                 "A prompt cache from `tessera cache_prompt`: the prompt continues it (--model defaults to its model)");
  add_kv_quantization_flags(app, flags.kv);
  app.add_option("--draft-model", flags.draft_model,
                 "A smaller model of the same vocabulary that drafts tokens for speculative decoding");
  app.add_option("--num-draft-tokens", flags.num_draft_tokens, "Tokens the draft model proposes per step")
      ->capture_default_str();
  app.add_option("--prompts-file", flags.prompts_file,
                 "Generate for every line of this file (one prompt per line) as a batch; results are printed with "
                 "their line index");
  app.add_option("--batch-size", flags.batch_size, "Sequences decoded at once with --prompts-file")
      ->capture_default_str();
}

// What the power flags add to one generation.
struct PowerSession {
  std::optional<lm::LoadedPromptCache> prompt_cache;
  std::optional<lm::LoadedModel> draft;
  lm::Cache quantized_cache;
  nlohmann::ordered_json template_kwargs;  // from the cache when --chat-template-config is not given
};

// Before the model is loaded: reads the prompt cache file; without --model, the model is the
// one that made the cache.
inline PowerSession open_power_session(const PowerFlags& flags, ModelFlags& model,
                                       const nlohmann::ordered_json& template_kwargs) {
  PowerSession session;
  session.template_kwargs = template_kwargs;
  if (flags.prompt_cache_file.empty()) return session;
  session.prompt_cache = lm::load_prompt_cache(flags.prompt_cache_file);
  const auto& meta = session.prompt_cache->metadata;
  if (flags.model_option && flags.model_option->count() == 0) {
    auto it = meta.find("model");
    if (it != meta.end()) model.model = it->second;
  }
  bool kwargs_given = flags.chat_template_config_option && flags.chat_template_config_option->count() > 0;
  auto it = meta.find("chat_template_config");
  if (!kwargs_given && it != meta.end()) {
    session.template_kwargs = parse_json_flag(flags.prompt_cache_file + " chat_template_config", it->second);
  }
  return session;
}

// After loading: refuses a cache of another model and hands it to the generation.
inline void attach_power_session(const PowerFlags& flags, PowerSession& session, const lm::LoadedModel& loaded,
                                 lm::GenerateOptions& options) {
  if (flags.num_draft_tokens < 1 || flags.num_draft_tokens > lm::kMaxDraftTokens) {
    throw std::invalid_argument("--num-draft-tokens must be between 1 and " + std::to_string(lm::kMaxDraftTokens) +
                                ", got " + std::to_string(flags.num_draft_tokens) + ".");
  }
  if (!flags.draft_model.empty()) {
    if (session.prompt_cache) throw std::invalid_argument("--draft-model cannot be combined with --prompt-cache-file.");
    if (options.max_kv_size) throw std::invalid_argument("--draft-model cannot be combined with --max-kv-size.");
    ModelFlags draft_flags;
    draft_flags.model = flags.draft_model;
    session.draft = load_model(draft_flags, /*decoding=*/true);
    lm::check_draft_model(loaded, *session.draft);
  }
  if (flags.kv.given()) {
    if (session.prompt_cache || session.draft || options.max_kv_size || !flags.prompts_file.empty()) {
      throw std::invalid_argument(
          "--kv-bits cannot be combined with --prompt-cache-file (the file keeps its own format), --draft-model, "
          "--max-kv-size or --prompts-file.");
    }
    session.quantized_cache = make_kv_quantized_cache(flags.kv, *loaded.model);
    options.prompt_cache = &session.quantized_cache;
  }
  if (!session.prompt_cache) return;
  lm::check_prompt_cache_matches(*session.prompt_cache, loaded, flags.prompt_cache_file);
  options.prompt_cache = &session.prompt_cache->cache;
}

// stream_generate, or speculative decoding when a draft model was given.
inline void power_stream_generate(const PowerFlags& flags, const PowerSession& session, const lm::LoadedModel& loaded,
                                  const std::vector<int>& ids, const lm::GenerateOptions& options,
                                  const std::function<bool(const lm::GenerationResponse&)>& on_token) {
  if (session.draft) {
    int drafted = 0;
    int total = 0;
    lm::speculative_stream_generate(loaded, *session.draft, ids, options, flags.num_draft_tokens,
                                    [&](const lm::GenerationResponse& r) {
                                      drafted += r.from_draft;
                                      ++total;
                                      return on_token(r);
                                    });
    // On stderr, so that stdout stays what plain generation prints.
    std::fprintf(stderr, "Draft tokens accepted: %d of %d generated tokens\n", drafted, total);
  } else {
    lm::stream_generate(loaded, ids, options, on_token);
  }
}

// Prompt ids for `messages` (the user's prompt last). With a prompt cache, only the text that
// follows the cached prefix: the rest of the user turn and the generation prompt, or the raw
// prompt without special tokens.
inline std::vector<int> encode_power_prompt(const PowerSession& session, const lm::LoadedModel& loaded,
                                            const nlohmann::ordered_json& messages, bool templated) {
  const std::string& prompt = messages.back()["content"].get_ref<const std::string&>();
  if (!session.prompt_cache) {
    return templated ? encode_messages(loaded, messages, session.template_kwargs) : loaded.tokenizer->encode(prompt, true);
  }
  if (!templated) return loaded.tokenizer->encode(prompt, false);
  return loaded.tokenizer->encode(lm::render_cached_turn_suffix(loaded, messages, session.template_kwargs), false);
}

// With --prompts-file: generates for each line as a batch and prints "[index] text" per
// prompt; returns false without it. `messages`: the conversation each prompt is appended to.
inline bool run_prompts_file(const PowerFlags& flags, const PowerSession& session, const lm::LoadedModel& loaded,
                             const lm::GenerateOptions& options, const nlohmann::ordered_json& messages,
                             bool templated, bool verbose) {
  if (flags.prompts_file.empty()) return false;
  if (session.prompt_cache || session.draft) {
    throw std::invalid_argument("--prompts-file cannot be combined with --prompt-cache-file or --draft-model.");
  }
  if (options.max_kv_size) throw std::invalid_argument("--prompts-file cannot be combined with --max-kv-size.");
  if (flags.batch_size < 1) throw std::invalid_argument("--batch-size must be >= 1, got " + std::to_string(flags.batch_size) + ".");
  if (options.max_tokens < 1) throw std::invalid_argument("--max-tokens must be >= 1 with --prompts-file.");
  std::ifstream in(flags.prompts_file);
  if (!in) throw std::runtime_error(flags.prompts_file + ": cannot read the prompts file.");
  std::vector<std::vector<int>> prompts;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    nlohmann::ordered_json conversation = messages;
    conversation.push_back({{"role", "user"}, {"content", line}});
    prompts.push_back(encode_power_prompt(session, loaded, conversation, templated));
    if (prompts.back().empty()) {
      throw std::invalid_argument(flags.prompts_file + ":" + std::to_string(prompts.size()) + ": the prompt has no tokens.");
    }
  }
  if (prompts.empty()) throw std::invalid_argument(flags.prompts_file + ": no prompts in the file.");

  lm::BatchGenerateOptions batch;
  batch.max_tokens = options.max_tokens;
  batch.sampler = options.sampler;
  batch.seed = options.seed;
  batch.batch_size = flags.batch_size;
  batch.prefill_step_size = options.prefill_step_size;
  batch.extra_eos_token_ids = options.extra_eos_token_ids;
  lm::BatchGenerateResult result = lm::batch_generate(loaded, prompts, batch);
  if (verbose) std::printf("==========\n");
  for (size_t i = 0; i < result.results.size(); ++i) std::printf("[%zu] %s\n", i, result.results[i].text.c_str());
  if (verbose) {
    std::printf("==========\n");
    std::printf("Prompt: %d tokens, %.3f tokens-per-sec\n", result.prompt_tokens, result.prompt_tps);
    std::printf("Generation: %d tokens, %.3f tokens-per-sec\n", result.generation_tokens, result.generation_tps);
    std::printf("Peak memory: %.3f GB\n", result.peak_memory);
  }
  std::fflush(stdout);
  return true;
}

}  // namespace tessera::cli
