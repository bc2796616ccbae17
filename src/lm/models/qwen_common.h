// What the Qwen2/Qwen3 family shares: optional sliding windows on the upper layers.
#pragma once

#include "lm/models/transformer.h"

namespace tessera::lm {

// With use_sliding_window, the layers marked "sliding_attention" in layer_types (by default
// those from max_window_layers on) attend within sliding_window.
void set_qwen_sliding_windows(const ConfigReader& config, TransformerArgs& args);

// The Qwen3 attention: q/k RMSNorm over head_dim and `attention_bias` on all four projections.
void set_qwen3_attention(const ConfigReader& config, TransformerArgs& args);

}  // namespace tessera::lm
