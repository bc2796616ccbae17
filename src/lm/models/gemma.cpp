// Gemma: GeGLU (tanh GELU), embeddings scaled by sqrt(hidden_size), (1 + w) RMSNorms, tied head.
#include "lm/models/architectures.h"
#include "lm/models/transformer.h"

namespace tessera::lm {

std::shared_ptr<Model> make_gemma(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/true, /*head_dim_default=*/256);
  args.gemma_norms = true;
  args.scale_embeddings = true;
  args.hidden_act = gemma_activation(config);
  args.qkv_bias = args.o_proj_bias = config.get_bool("attention_bias", false);
  return std::make_shared<TransformerLM>("gemma", std::move(args));
}

}  // namespace tessera::lm
