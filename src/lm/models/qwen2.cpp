// Qwen2 / Qwen2.5: Llama with biases on q, k and v.
#include "lm/models/architectures.h"
#include "lm/models/qwen_common.h"
#include "lm/models/transformer.h"

namespace tessera::lm {

std::shared_ptr<Model> make_qwen2(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  args.qkv_bias = true;
  set_qwen_sliding_windows(config, args);
  return std::make_shared<TransformerLM>("qwen2", std::move(args));
}

}  // namespace tessera::lm
