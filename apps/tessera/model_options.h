// Flags shared by the commands that load a model and generate: --model/--dtype, the sampler
// and generation limits, and the prompt helpers (`-` reads stdin, chat template or not).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "command.h"
#include "tessera/dtype.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/model.h"
#include "tessera/lm/tokenizer.h"

namespace tessera::cli {

struct ModelFlags {
  std::string model;
  std::string dtype;
  std::string adapter_path;
  bool int8_activations = false;
};

// `adapter_flag`: offer --adapter-path (a LoRA adapter folder applied on load).
inline void add_model_flags(CLI::App& app, ModelFlags& flags, bool adapter_flag = true) {
  flags.model = default_model_path();
  app.add_option("--model", flags.model, "Model folder (Hugging Face layout)")->capture_default_str();
  app.add_option("--dtype", flags.dtype, "Cast the weights to this dtype (float32, bfloat16, float16)");
  if (adapter_flag) {
    app.add_option("--adapter-path", flags.adapter_path, "Folder of a LoRA adapter to apply to the model");
  }
}

// For the commands that generate, and perplexity (to measure what it costs): --int8-activations.
inline void add_decoding_flags(CLI::App& app, ModelFlags& flags) {
  app.add_flag("--int8-activations", flags.int8_activations,
               "Round activations to int8 per group in the products of quantized layers (as llama.cpp "
               "does): faster prompts and batches, at ~1-2% error per product");
}

// `decoding`: the command generates tokens (lays quantized weights out for it on load).
inline lm::LoadedModel load_model(const ModelFlags& flags, bool decoding = false) {
  lm::LoadOptions options;
  options.prepare_decoding = decoding;
  options.int8_activations = flags.int8_activations;
  if (!flags.dtype.empty()) {
    Dtype d = dtype_from_string(flags.dtype);
    if (!is_floating_point(d)) {
      throw std::invalid_argument("--dtype must be a floating-point type, got '" + flags.dtype + "'.");
    }
    options.dtype = d;
  }
  options.adapter_path = flags.adapter_path;
  lm::LoadedModel loaded = lm::load(flags.model, options);
  if (!loaded.tokenizer) {
    throw std::runtime_error(flags.model + ": no tokenizer (tokenizer.json or tokenizer.model) in the model folder.");
  }
  return loaded;
}

struct GenerationFlags {
  int max_tokens = 256;
  float temp = 0.0f;
  float top_p = 1.0f;
  float min_p = 0.0f;
  int min_tokens_to_keep = 1;
  int top_k = 0;
  uint64_t seed = 0;
  int max_kv_size = 0;
  std::vector<std::string> extra_eos_tokens;
  CLI::Option* seed_option = nullptr;
  CLI::Option* max_kv_size_option = nullptr;
};

inline void add_generation_flags(CLI::App& app, GenerationFlags& flags) {
  app.add_option("-m,--max-tokens", flags.max_tokens, "Maximum number of tokens to generate")->capture_default_str();
  app.add_option("--temp", flags.temp, "Sampling temperature (0 = greedy)")->capture_default_str();
  app.add_option("--top-p", flags.top_p, "Sampling top-p")->capture_default_str();
  app.add_option("--min-p", flags.min_p, "Sampling min-p")->capture_default_str();
  app.add_option("--min-tokens-to-keep", flags.min_tokens_to_keep, "Minimum tokens to keep for min-p sampling")
      ->capture_default_str();
  app.add_option("--top-k", flags.top_k, "Sampling top-k (0 = off)")->capture_default_str();
  flags.seed_option = app.add_option("--seed", flags.seed, "PRNG seed (sampling is reproducible with one)");
  flags.max_kv_size_option = app.add_option("--max-kv-size", flags.max_kv_size,
                                            "Keep at most this many tokens per layer (the first 4 and the latest)");
  app.add_option("--extra-eos-token", flags.extra_eos_tokens,
                 "A token (text or id) that also ends generation; repeatable");
}

// A token given on the command line: an id, or the text of one vocabulary entry.
inline int resolve_token(const lm::Tokenizer& tokenizer, const std::string& token) {
  if (auto id = tokenizer.token_to_id(token)) return *id;
  try {
    size_t used = 0;
    int id = std::stoi(token, &used);
    if (used == token.size() && id >= 0 && static_cast<size_t>(id) < tokenizer.vocab_size()) return id;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("--extra-eos-token: '" + token + "' is not a token of this tokenizer.");
}

inline lm::GenerateOptions generate_options(const GenerationFlags& flags, const lm::LoadedModel& loaded) {
  if (flags.max_tokens < 0) {
    throw std::invalid_argument("--max-tokens must be >= 0, got " + std::to_string(flags.max_tokens) + ".");
  }
  if (flags.max_kv_size_option->count() > 0 && flags.max_kv_size < 5) {
    throw std::invalid_argument("--max-kv-size must be at least 5 (4 tokens are always kept), got " +
                                std::to_string(flags.max_kv_size) + ".");
  }
  lm::GenerateOptions options;
  options.max_tokens = flags.max_tokens;
  options.sampler.temp = flags.temp;
  options.sampler.top_p = flags.top_p;
  options.sampler.min_p = flags.min_p;
  options.sampler.min_tokens_to_keep = flags.min_tokens_to_keep;
  options.sampler.top_k = flags.top_k;
  lm::validate(options.sampler);
  if (flags.seed_option->count() > 0) options.seed = flags.seed;
  if (flags.max_kv_size_option->count() > 0) options.max_kv_size = flags.max_kv_size;
  for (const auto& token : flags.extra_eos_tokens) {
    options.extra_eos_token_ids.push_back(resolve_token(*loaded.tokenizer, token));
  }
  return options;
}

// The prompt as given: `-` reads stdin; the escapes \n and \t become a newline and a tab.
inline std::string read_prompt(const std::string& prompt) {
  if (prompt == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::string out;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] == '\\' && i + 1 < prompt.size() && (prompt[i + 1] == 'n' || prompt[i + 1] == 't')) {
      out += prompt[i + 1] == 'n' ? '\n' : '\t';
      ++i;
    } else {
      out += prompt[i];
    }
  }
  return out;
}

inline bool has_chat_template(const lm::LoadedModel& loaded) {
  return loaded.chat_template && !loaded.chat_template->empty();
}

// Prompt token ids for `messages`: rendered through the chat template (its special tokens are
// in the text) when the model has one.
inline std::vector<int> encode_messages(const lm::LoadedModel& loaded, const nlohmann::ordered_json& messages,
                                        const nlohmann::ordered_json& template_kwargs) {
  std::string text = loaded.chat_template->apply(messages, nlohmann::ordered_json(), true, template_kwargs);
  return loaded.tokenizer->encode(text, false);
}

inline nlohmann::ordered_json parse_json_flag(const std::string& flag, const std::string& text) {
  nlohmann::ordered_json value;
  try {
    value = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw std::invalid_argument(flag + " is not valid JSON: " + e.what());
  }
  if (!value.is_object()) throw std::invalid_argument(flag + " must be a JSON object.");
  return value;
}

}  // namespace tessera::cli
