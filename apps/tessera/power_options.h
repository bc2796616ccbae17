// Flags of `tessera generate` for the generation power features: continuing from a prompt
// cache file. Kept apart from model_options.h so that generate.cpp only hooks them in.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "model_options.h"
#include "tessera/lm/prompt_cache.h"

namespace tessera::cli {

struct PowerFlags {
  std::string prompt_cache_file;
  CLI::Option* model_option = nullptr;
  CLI::Option* chat_template_config_option = nullptr;
};

inline void add_power_flags(CLI::App& app, PowerFlags& flags) {
  flags.model_option = app.get_option("--model");
  flags.chat_template_config_option = app.get_option_no_throw("--chat-template-config");
  app.add_option("--prompt-cache-file", flags.prompt_cache_file,
                 "A prompt cache from `tessera cache_prompt`: the prompt continues it (--model defaults to its model)");
}

// What the power flags add to one generation.
struct PowerSession {
  std::optional<lm::LoadedPromptCache> prompt_cache;
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
  if (!session.prompt_cache) return;
  lm::check_prompt_cache_matches(*session.prompt_cache, loaded, flags.prompt_cache_file);
  options.prompt_cache = &session.prompt_cache->cache;
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

}  // namespace tessera::cli
