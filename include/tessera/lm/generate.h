// Text generation: prefill the prompt in chunks, then decode one token at a time through the
// sampler, streaming each token's text as it becomes final.
#pragma once

#include "tessera/array.h"
#include "tessera/lm/model.h"
#include "tessera/lm/sample.h"
#include "tessera/lm/tokenizer.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tessera::lm {

struct GenerateOptions {
  int max_tokens = 256;
  SamplerOptions sampler;
  std::optional<uint64_t> seed;
  // With a value, each layer keeps at most this many tokens (RotatingKVCache, first 4 kept).
  std::optional<int> max_kv_size;
  int prefill_step_size = 2048;
  // Stop tokens in addition to the model's and the tokenizer's end-of-sequence ids.
  std::vector<int> extra_eos_token_ids;
  // Continue from this cache and leave it holding every token fed to the model (the prompt
  // and all generated tokens but the last); a fresh cache when null.
  Cache* prompt_cache = nullptr;
};

struct GenerationResponse {
  std::string text;  // the text that became final with this token (may be empty)
  int token = 0;
  array logprobs = array(0.0f);  // [V] log-probabilities the token was drawn from
  bool from_draft = false;
  int prompt_tokens = 0;
  double prompt_tps = 0;
  int generation_tokens = 0;
  double generation_tps = 0;
  double peak_memory = 0;  // GB
  std::optional<std::string> finish_reason;  // "stop" | "length" on the last response
};

// The ids that end generation: generation_config's, the tokenizer's and the extra ones.
std::vector<int> stop_token_ids(const LoadedModel& loaded, const std::vector<int>& extra);

// Generates from prompt token ids (already templated). on_token is called once per generated
// token; the last call carries finish_reason ("stop": an end-of-sequence token was sampled,
// its text is not emitted; "length": max_tokens reached). Returning false from on_token ends
// generation early.
void stream_generate(const LoadedModel& loaded, const std::vector<int>& prompt, const GenerateOptions& options,
                     const std::function<bool(const GenerationResponse&)>& on_token);

// Encodes `prompt` as is (with the tokenizer's special tokens unless it already starts with
// the BOS text) and returns the whole generated text.
std::string generate(const LoadedModel& loaded, const std::string& prompt, const GenerateOptions& options);

}  // namespace tessera::lm
