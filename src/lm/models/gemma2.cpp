// Gemma 2: Gemma with four norms per layer, attention and final logit softcapping, the
// query_pre_attn_scalar attention scale and alternating sliding/global layers.
#include "lm/models/architectures.h"
#include "lm/models/transformer.h"

#include <cmath>

namespace tessera::lm {

std::shared_ptr<Model> make_gemma2(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/true, /*head_dim_default=*/256);
  args.gemma_norms = true;
  args.scale_embeddings = true;
  args.sandwich_norms = true;
  args.hidden_act = gemma_activation(config);
  args.qkv_bias = args.o_proj_bias = config.get_bool("attention_bias", false);
  // transformers' defaults apply when the keys are absent; null turns softcapping off.
  auto softcap = [&](const char* key, double fallback) -> std::optional<float> {
    if (!config.json().contains(key)) {
      return static_cast<float>(fallback);
    }
    if (auto v = config.get_optional_double(key)) {
      return static_cast<float>(*v);
    }
    return std::nullopt;
  };
  args.attn_logit_softcapping = softcap("attn_logit_softcapping", 50.0);
  args.final_logit_softcapping = softcap("final_logit_softcapping", 30.0);
  args.attention_scale = static_cast<float>(1.0 / std::sqrt(config.get_double("query_pre_attn_scalar", 256.0)));
  std::vector<std::string> alternating;
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    alternating.push_back(i % 2 == 0 ? "sliding_attention" : "full_attention");
  }
  set_sliding_windows(args, parse_layer_types(config, args.num_hidden_layers, alternating),
                      config.get_int("sliding_window", 4096));
  return std::make_shared<TransformerLM>("gemma2", std::move(args));
}

}  // namespace tessera::lm
