// Qwen3 (dense): Qwen2 without the qkv biases, with q/k RMSNorm per head before RoPE.
#include "lm/models/architectures.h"
#include "lm/models/qwen_common.h"
#include "lm/models/transformer.h"

namespace tessera::lm {

std::shared_ptr<Model> make_qwen3(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  set_qwen3_attention(config, args);
  set_qwen_sliding_windows(config, args);
  return std::make_shared<TransformerLM>("qwen3", std::move(args));
}

}  // namespace tessera::lm
