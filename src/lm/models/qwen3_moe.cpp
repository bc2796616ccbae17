// Qwen3-MoE: Qwen3 attention with sparse MoE layers (every decoder_sparse_step-th layer not in
// mlp_only_layers); router weights renormalized only with norm_topk_prob.
#include "lm/models/architectures.h"
#include "lm/models/moe.h"
#include "lm/models/qwen_common.h"
#include "lm/models/transformer.h"

#include <algorithm>

namespace tessera::lm {
namespace {

struct MoeArgs {
  int num_experts = 0;
  int top_k = 0;
  int moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  int decoder_sparse_step = 1;
  std::vector<int> mlp_only_layers;

  bool is_sparse(int layer) const {
    return num_experts > 0 && std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) == mlp_only_layers.end() &&
           (layer + 1) % decoder_sparse_step == 0;
  }
};

class Qwen3Moe : public TransformerLM {
 public:
  Qwen3Moe(TransformerArgs args, MoeArgs moe)
      : TransformerLM("qwen3_moe", args,
                      [args, moe](int layer) -> std::pair<std::string, std::shared_ptr<nn::UnaryModule>> {
                        if (moe.is_sparse(layer)) {
                          return {"mlp", std::make_shared<SparseMoeBlock>(args.hidden_size, moe.moe_intermediate_size,
                                                                          moe.num_experts, moe.top_k,
                                                                          moe.norm_topk_prob, args.hidden_act)};
                        }
                        return {"mlp", std::make_shared<MLP>(args.hidden_size, args.intermediate_size, args.hidden_act)};
                      }),
        moe_(std::move(moe)) {}

  nn::ParameterMap sanitize(nn::ParameterMap weights) const override {
    weights = TransformerLM::sanitize(std::move(weights));
    for (int i = 0; i < num_layers(); ++i) {
      if (moe_.is_sparse(i)) {
        stack_experts(weights, "model.layers." + std::to_string(i) + ".mlp", moe_.num_experts,
                      {"gate_proj", "up_proj", "down_proj"}, {"gate_proj", "up_proj", "down_proj"});
      }
    }
    return weights;
  }

 private:
  MoeArgs moe_;
};

}  // namespace

std::shared_ptr<Model> make_qwen3_moe(const ConfigReader& config) {
  TransformerArgs args = parse_transformer_args(config, /*tie_default=*/false);
  set_qwen3_attention(config, args);
  set_qwen_sliding_windows(config, args);
  MoeArgs moe;
  // transformers 5 writes num_local_experts; Hub checkpoints say num_experts.
  moe.num_experts = config.has("num_experts") ? config.get_int("num_experts") : config.get_int("num_local_experts");
  moe.top_k = config.get_int("num_experts_per_tok");
  moe.moe_intermediate_size = config.get_int("moe_intermediate_size");
  moe.norm_topk_prob = config.get_bool("norm_topk_prob", false);
  moe.decoder_sparse_step = config.get_int("decoder_sparse_step", 1);
  if (moe.decoder_sparse_step <= 0) {
    config.fail("'decoder_sparse_step' must be positive");
  }
  moe.mlp_only_layers = config.get_int_list("mlp_only_layers");
  return std::make_shared<Qwen3Moe>(std::move(args), std::move(moe));
}

}  // namespace tessera::lm
