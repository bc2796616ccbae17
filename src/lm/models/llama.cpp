// Llama (and CodeLlama, Llama 2/3/3.1/3.2): RMSNorm, SwiGLU, GQA, RoPE with linear, dynamic
// or llama3 scaling, optional attention and MLP biases.
#include "lm/models/architectures.h"
#include "lm/models/transformer.h"

namespace tessera::lm {

std::shared_ptr<Model> make_llama(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  args.qkv_bias = args.o_proj_bias = config.get_bool("attention_bias", false);
  args.mlp_bias = config.get_bool("mlp_bias", false);
  return std::make_shared<TransformerLM>("llama", std::move(args));
}

}  // namespace tessera::lm
