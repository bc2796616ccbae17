// Mistral: Llama with a sliding attention window on every layer.
#include "lm/models/architectures.h"
#include "lm/models/transformer.h"

namespace tessera::lm {

std::shared_ptr<Model> make_mistral(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  if (auto window = config.get_optional_int("sliding_window")) {
    args.layer_windows.assign(args.num_hidden_layers, *window);
  }
  return std::make_shared<TransformerLM>("mistral", std::move(args));
}

}  // namespace tessera::lm
