// Prompt cache files: a KV cache filled with a prompt, saved to safetensors so that later
// generations start from it instead of prefilling the prompt again.
//
// File layout (as mlx-lm's save_prompt_cache writes it): tensors "L.0" (keys) and "L.1"
// (values) of layer L, [B, H, T, D] cut to what the cache holds; string metadata "0.L.<key>"
// for layer L's bookkeeping (RotatingKVCache: keep, max_size, offset, idx), "1.<key>" for the
// caller's metadata (model, tokenizer fingerprint, chat template config) and "2.L" for layer
// L's cache class.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/lm/model.h"

namespace tessera::lm {

using PromptCacheMetadata = std::map<std::string, std::string>;

// A fresh cache for `model`: one StandardKVCache per layer, or with max_kv_size a
// RotatingKVCache (keeping the first 4 tokens).
Cache make_prompt_cache(const Model& model, std::optional<int> max_kv_size = {});

// Writes the cache and `metadata` to `path` (atomically: a failed save leaves no file).
void save_prompt_cache(const std::string& path, const Cache& cache, const PromptCacheMetadata& metadata = {});

struct LoadedPromptCache {
  Cache cache;
  PromptCacheMetadata metadata;  // the caller's metadata given to save_prompt_cache
};

// Reads a file written by save_prompt_cache. Errors (missing file, not safetensors, missing or
// inconsistent tensors or metadata) are std::runtime_error naming the file.
LoadedPromptCache load_prompt_cache(const std::string& path);

bool can_trim_prompt_cache(const Cache& cache);
// Drops the last n tokens of every layer; returns how many were dropped (0 when a layer
// cannot be trimmed).
int trim_prompt_cache(Cache& cache, int n);

// Feeds `ids` through the model in chunks of prefill_step_size tokens, only filling the cache.
void fill_prompt_cache(Model& model, const std::vector<int>& ids, Cache& cache, int prefill_step_size = 2048);

// Metadata identifying the model and tokenizer that made a cache: "model" (its path),
// "model_name", "model_type", "model_config" (a hash of config.json), "vocab_size", "num_layers"
// and "tokenizer" (vocabulary size and a hash of the tokenizer file's bytes).
PromptCacheMetadata model_fingerprint(const LoadedModel& loaded);

// Throws std::runtime_error naming `path` when the cache's metadata says it was made with
// another model or tokenizer than `loaded`, or its layers do not fit the model.
void check_prompt_cache_matches(const LoadedPromptCache& cache, const LoadedModel& loaded, const std::string& path);

// The text of a prompt rendered through the chat template as an unfinished user turn: the
// rendering of [user: prompt] without a generation prompt, cut where the user's content ends,
// so that a later turn continues it.
std::string render_unfinished_user_turn(const LoadedModel& loaded, const std::string& prompt,
                                        const nlohmann::ordered_json& template_kwargs);

// The text that continues a cached unfinished user turn with `prompt`: the full rendering of
// [system?, user: prompt] with a generation prompt, from where the user's content starts.
std::string render_cached_turn_suffix(const LoadedModel& loaded, const nlohmann::ordered_json& messages,
                                      const nlohmann::ordered_json& template_kwargs);

}  // namespace tessera::lm
