// `tessera cache_prompt`: prefill a prompt once and save the KV cache to a prompt cache file
// that `tessera generate --prompt-cache-file` continues from, as mlx_lm.cache_prompt does.
#include <cstdio>
#include <memory>

#include "command.h"
#include "model_options.h"
#include "power_options.h"
#include "tessera/lm/prompt_cache.h"

namespace tessera::cli {
namespace {

struct CachePromptFlags {
  ModelFlags model;
  std::string prompt;
  std::string prompt_cache_file;
  bool ignore_chat_template = false;
  std::string chat_template_config;
  int max_kv_size = 0;
  CLI::Option* max_kv_size_option = nullptr;
  int prefill_step_size = 2048;
  KVQuantizationFlags kv;
};

void run(const CachePromptFlags& flags) {
  if (flags.max_kv_size_option->count() > 0 && flags.max_kv_size < 5) {
    throw std::invalid_argument("--max-kv-size must be at least 5 (4 tokens are always kept), got " +
                                std::to_string(flags.max_kv_size) + ".");
  }
  if (flags.prefill_step_size < 1) throw std::invalid_argument("--prefill-step-size must be >= 1.");
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();
  if (!flags.chat_template_config.empty()) {
    template_kwargs = parse_json_flag("--chat-template-config", flags.chat_template_config);
  }
  lm::LoadedModel loaded = load_model(flags.model);
  std::string prompt = read_prompt(flags.prompt);
  bool templated = !flags.ignore_chat_template && has_chat_template(loaded);
  std::vector<int> ids = templated
                             ? loaded.tokenizer->encode(lm::render_unfinished_user_turn(loaded, prompt, template_kwargs), false)
                             : loaded.tokenizer->encode(prompt, true);
  if (ids.empty()) throw std::invalid_argument("The prompt has no tokens.");

  std::optional<int> max_kv_size;
  if (flags.max_kv_size_option->count() > 0) max_kv_size = flags.max_kv_size;
  if (flags.kv.given() && max_kv_size) throw std::invalid_argument("--kv-bits cannot be combined with --max-kv-size.");
  lm::Cache cache =
      flags.kv.given() ? make_kv_quantized_cache(flags.kv, *loaded.model) : lm::make_prompt_cache(*loaded.model, max_kv_size);
  lm::fill_prompt_cache(*loaded.model, ids, cache, flags.prefill_step_size);

  lm::PromptCacheMetadata metadata = lm::model_fingerprint(loaded);
  metadata["chat_template_config"] = template_kwargs.dump();
  metadata["chat_template"] = templated ? "true" : "false";
  lm::save_prompt_cache(flags.prompt_cache_file, cache, metadata);
  std::printf("Saved the KV cache of %zu prompt tokens to %s\n", ids.size(), flags.prompt_cache_file.c_str());
}

void setup(CLI::App& app) {
  auto flags = std::make_shared<CachePromptFlags>();
  add_model_flags(app, flags->model);
  app.add_option("-p,--prompt", flags->prompt, "Prompt to cache ('-' reads from stdin)")->required();
  app.add_option("--prompt-cache-file", flags->prompt_cache_file, "The file to save the KV cache in (.safetensors)")
      ->required();
  app.add_flag("--ignore-chat-template", flags->ignore_chat_template,
               "Cache the raw prompt instead of an unfinished user turn of the chat template");
  app.add_option("--chat-template-config", flags->chat_template_config,
                 "Extra variables for the chat template, as a JSON object");
  flags->max_kv_size_option = app.add_option("--max-kv-size", flags->max_kv_size,
                                             "Keep at most this many tokens per layer (the first 4 and the latest)");
  add_kv_quantization_flags(app, flags->kv);
  app.add_option("--prefill-step-size", flags->prefill_step_size, "Tokens per prefill chunk")->capture_default_str();
  app.callback([flags] { run(*flags); });
}

const bool registered = register_command({"cache_prompt", "Prefill a prompt and save its KV cache to a file", setup});

}  // namespace
}  // namespace tessera::cli
