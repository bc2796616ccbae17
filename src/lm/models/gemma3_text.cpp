// Gemma 3 (text): Gemma 2's layout with (1 + w) q/k norms, no softcapping by default, and
// separate RoPE settings for the sliding (local) and global layers.
#include "lm/models/architectures.h"
#include "lm/models/transformer.h"

#include <cmath>

namespace tessera::lm {

std::shared_ptr<Model> make_gemma3_text(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/true, /*head_dim_default=*/256,
                                                /*single_rope=*/false);
  args.gemma_norms = true;
  args.scale_embeddings = true;
  args.sandwich_norms = true;
  args.qk_norm = true;
  args.hidden_act = gemma_activation(config);
  args.qkv_bias = args.o_proj_bias = config.get_bool("attention_bias", false);
  if (auto cap = config.get_optional_double("attn_logit_softcapping")) {
    args.attn_logit_softcapping = static_cast<float>(*cap);
  }
  if (auto cap = config.get_optional_double("final_logit_softcapping")) {
    args.final_logit_softcapping = static_cast<float>(*cap);
  }
  args.attention_scale = static_cast<float>(1.0 / std::sqrt(config.get_double("query_pre_attn_scalar", 256.0)));

  // Layer i is global iff (i + 1) % pattern == 0 when layer_types is absent.
  const int pattern = config.get_int("sliding_window_pattern", config.get_int("_sliding_window_pattern", 6));
  std::vector<std::string> fallback;
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    fallback.push_back((i + 1) % pattern == 0 ? "full_attention" : "sliding_attention");
  }
  const auto layer_types = parse_layer_types(config, args.num_hidden_layers, fallback);
  set_sliding_windows(args, layer_types, config.get_int("sliding_window", 4096));
  args.ropes["sliding_attention"] = parse_rope_config(config, "sliding_attention");
  args.ropes["full_attention"] = parse_rope_config(config, "full_attention", 1000000.0);
  args.layer_rope = layer_types;
  return std::make_shared<TransformerLM>("gemma3_text", std::move(args));
}

}  // namespace tessera::lm
