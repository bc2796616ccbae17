// Phi-3: fused qkv_proj and gate_up_proj, partial rotary dims, LongRoPE.
#include "lm/models/architectures.h"
#include "lm/models/transformer.h"

namespace tessera::lm {

std::shared_ptr<Model> make_phi3(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  args.fused_qkv = true;
  args.fused_gate_up = true;
  args.qkv_bias = args.o_proj_bias = config.get_bool("attention_bias", false);
  if (auto window = config.get_optional_int("sliding_window")) {
    args.layer_windows.assign(args.num_hidden_layers, *window);
  }
  return std::make_shared<TransformerLM>("phi3", std::move(args));
}

}  // namespace tessera::lm
