// Sparse mixture-of-experts feed-forward (Mixtral, Qwen3-MoE) with gather-based execution:
// the router picks k experts per token, tokens are grouped by expert, and each selected
// expert runs once on its tokens. Expert weights are stacked per layer, [E, out, in].
#pragma once

#include "tessera/nn/layers.h"

#include <functional>
#include <string>

namespace tessera::lm {

// A bank of E linear maps without bias; parameter `weight` [E, out, in].
class SwitchLinear : public nn::Module {
 public:
  SwitchLinear(int input_dims, int output_dims, int num_experts);
  std::string type_name() const override { return "SwitchLinear"; }
  // x [N, in], every row routed to `expert`: x W[expert]^T.
  virtual array operator()(const array& x, int expert);
  int num_experts() const;
};

// The gated MLP of every expert: down_e(act(gate_e(x)) * up_e(x)).
class SwitchGLU : public nn::Module {
 public:
  SwitchGLU(int hidden_size, int intermediate_size, int num_experts, const std::string& activation);
  std::string type_name() const override { return "SwitchGLU"; }
  array operator()(const array& x, int expert);

 private:
  std::function<array(const array&, const array&)> gated_;
  nn::Child<SwitchLinear> gate_proj_, up_proj_, down_proj_;
};

// Router `gate` [E, d] -> softmax over all experts (float32) -> top k -> optionally
// renormalized weights; the output is the weighted sum of the k experts' outputs.
class SparseMoeBlock : public nn::UnaryModule {
 public:
  SparseMoeBlock(int hidden_size, int intermediate_size, int num_experts, int num_experts_per_tok,
                 bool norm_topk_prob, const std::string& activation);
  std::string type_name() const override { return "SparseMoeBlock"; }
  array operator()(const array& x) override;

 private:
  int num_experts_;
  int top_k_;
  bool norm_topk_prob_;
  nn::Child<nn::UnaryModule> gate_;
  nn::Child<SwitchGLU> switch_mlp_;
};

}  // namespace tessera::lm

namespace tessera::lm {

// Replaces the per-expert checkpoint tensors `<prefix>.experts.<e>.<from[j]>.weight` by
// `<prefix>.switch_mlp.<to[j]>.weight` stacked [E, out, in] (no-op when already stacked).
// A missing expert tensor is an error naming it.
void stack_experts(nn::ParameterMap& weights, const std::string& prefix, int num_experts,
                   const std::vector<std::string>& from, const std::vector<std::string>& to);

}  // namespace tessera::lm
