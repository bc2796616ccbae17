#include "lm/models/qwen_common.h"

namespace tessera::lm {

void set_qwen_sliding_windows(const ConfigReader& config, TransformerArgs& args) {
  if (!config.get_bool("use_sliding_window", false) || !config.has("sliding_window")) {
    return;
  }
  const int max_window_layers = config.get_int("max_window_layers", args.num_hidden_layers);
  std::vector<std::string> fallback;
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    fallback.push_back(i >= max_window_layers ? "sliding_attention" : "full_attention");
  }
  set_sliding_windows(args, parse_layer_types(config, args.num_hidden_layers, fallback),
                      config.get_int("sliding_window"));
}

void set_qwen3_attention(const ConfigReader& config, TransformerArgs& args) {
  args.qk_norm = true;
  args.qkv_bias = args.o_proj_bias = config.get_bool("attention_bias", false);
}

}  // namespace tessera::lm
