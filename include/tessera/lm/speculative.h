// Speculative decoding: a small draft model proposes tokens that the main model verifies in
// one forward pass, as mlx-lm's speculative_generate_step does. Every emitted token is the
// main model's choice, so greedy output equals the main model's greedy output exactly.
#pragma once

#include <functional>
#include <vector>

#include "tessera/lm/generate.h"
#include "tessera/lm/model.h"

namespace tessera::lm {

// Throws std::invalid_argument when `draft` cannot draft for `main` (another vocabulary).
void check_draft_model(const LoadedModel& main, const LoadedModel& draft);

// Most draft tokens per step: a verification pass over up to 15 tokens computes each exactly as
// decoding it alone, which makes the output the main model's greedy output bit for bit.
constexpr int kMaxDraftTokens = 14;

// Like stream_generate, with `draft` proposing num_draft_tokens (1 to kMaxDraftTokens) tokens
// per step. Tokens
// the main model accepted from the draft carry from_draft = true. Rejected draft tokens are
// rewound from both models' caches. options.prompt_cache is not supported (the draft would lack
// the cached prefix) and is refused.
void speculative_stream_generate(const LoadedModel& main, const LoadedModel& draft, const std::vector<int>& prompt,
                                 const GenerateOptions& options, int num_draft_tokens,
                                 const std::function<bool(const GenerationResponse&)>& on_token);

}  // namespace tessera::lm
