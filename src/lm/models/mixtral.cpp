// Mixtral: Mistral with a sparse MoE feed-forward block (`block_sparse_moe`): softmax router,
// top-k experts, weights renormalized to sum to 1. Experts w1 (gate), w3 (up), w2 (down).
#include "lm/models/architectures.h"
#include "lm/models/moe.h"
#include "lm/models/transformer.h"

namespace tessera::lm {
namespace {

class Mixtral : public TransformerLM {
 public:
  Mixtral(TransformerArgs args, int num_experts, int top_k)
      : TransformerLM("mixtral", args,
                      [args, num_experts, top_k](int) -> std::pair<std::string, std::shared_ptr<nn::UnaryModule>> {
                        return {"block_sparse_moe",
                                std::make_shared<SparseMoeBlock>(args.hidden_size, args.intermediate_size, num_experts,
                                                                 top_k, /*norm_topk_prob=*/true, args.hidden_act)};
                      }),
        num_experts_(num_experts) {}

  nn::ParameterMap sanitize(nn::ParameterMap weights) const override {
    weights = TransformerLM::sanitize(std::move(weights));
    for (int i = 0; i < num_layers(); ++i) {
      stack_experts(weights, "model.layers." + std::to_string(i) + ".block_sparse_moe", num_experts_,
                    {"w1", "w3", "w2"}, {"gate_proj", "up_proj", "down_proj"});
    }
    return weights;
  }

 private:
  int num_experts_;
};

}  // namespace

std::shared_ptr<Model> make_mixtral(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  if (auto window = config.get_optional_int("sliding_window")) {
    args.layer_windows.assign(args.num_hidden_layers, *window);
  }
  return std::make_shared<Mixtral>(std::move(args), config.get_int("num_local_experts"),
                                   config.get_int("num_experts_per_tok"));
}

}  // namespace tessera::lm
