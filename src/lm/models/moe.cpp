#include "lm/models/moe.h"

#include "tessera/nn/activations.h"
#include "tessera/ops.h"
#include "tessera/random.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace tessera::lm {

SwitchLinear::SwitchLinear(int input_dims, int output_dims, int num_experts) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(input_dims));
  register_parameter("weight", random::uniform(array(-scale), array(scale), {num_experts, output_dims, input_dims}));
}

int SwitchLinear::num_experts() const { return static_cast<int>(parameter("weight").shape(0)); }

array SwitchLinear::operator()(const array& x, int expert) {
  const array& w = parameter("weight");
  // W[expert] is a contiguous block of the stacked weights: a view, no copy.
  array we = reshape(slice(w, {expert, 0, 0}, {expert + 1, w.shape(1), w.shape(2)}), {w.shape(1), w.shape(2)});
  return matmul(x, transpose(we));
}

SwitchGLU::SwitchGLU(int hidden_size, int intermediate_size, int num_experts, const std::string& activation)
    : gated_(nn::gated_activation_from_name(activation)) {
  gate_proj_ = register_module("gate_proj", std::make_shared<SwitchLinear>(hidden_size, intermediate_size, num_experts));
  up_proj_ = register_module("up_proj", std::make_shared<SwitchLinear>(hidden_size, intermediate_size, num_experts));
  down_proj_ = register_module("down_proj", std::make_shared<SwitchLinear>(intermediate_size, hidden_size, num_experts));
}

array SwitchGLU::operator()(const array& x, int expert) {
  return (*down_proj_)(gated_((*gate_proj_)(x, expert), (*up_proj_)(x, expert)), expert);
}

SparseMoeBlock::SparseMoeBlock(int hidden_size, int intermediate_size, int num_experts, int num_experts_per_tok,
                               bool norm_topk_prob, const std::string& activation)
    : num_experts_(num_experts), top_k_(num_experts_per_tok), norm_topk_prob_(norm_topk_prob) {
  if (top_k_ <= 0 || top_k_ > num_experts_) {
    throw std::invalid_argument("[SparseMoeBlock] experts per token must be in [1, " + std::to_string(num_experts_) +
                                "], got " + std::to_string(top_k_));
  }
  gate_ = register_module<nn::UnaryModule>("gate", std::make_shared<nn::Linear>(hidden_size, num_experts, false));
  switch_mlp_ = register_module("switch_mlp",
                                std::make_shared<SwitchGLU>(hidden_size, intermediate_size, num_experts, activation));
}

array SparseMoeBlock::operator()(const array& x) {
  const Shape shape = x.shape();
  const int64_t d = shape.back();
  array rows = reshape(x, {-1, d});
  const auto n = static_cast<int>(rows.shape(0));

  array probs = softmax(astype((*gate_)(rows), float32), -1, true);
  // The routing decision is made on the host: it decides which experts run at all.
  std::vector<float> host_probs = probs.to_vector<float>();
  std::vector<int> selected(static_cast<size_t>(n) * top_k_);
  std::vector<int> order(num_experts_);
  for (int t = 0; t < n; ++t) {
    std::iota(order.begin(), order.end(), 0);
    const float* p = host_probs.data() + static_cast<size_t>(t) * num_experts_;
    // Highest probability first; ties go to the lower expert index, as torch.topk does.
    std::partial_sort(order.begin(), order.begin() + top_k_, order.end(),
                      [p](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    std::copy(order.begin(), order.begin() + top_k_, selected.begin() + static_cast<size_t>(t) * top_k_);
  }
  array selected_idx(selected, {n, top_k_}, int32);
  array weights = take_along_axis(probs, selected_idx, -1);
  if (norm_topk_prob_) {
    weights = divide(weights, sum(weights, -1, true));
  }
  weights = astype(weights, x.dtype());

  // Group the (token, slot) pairs by expert and run each selected expert once.
  std::vector<std::vector<int>> slots_of(num_experts_);
  for (int s = 0; s < n * top_k_; ++s) {
    slots_of[selected[s]].push_back(s);
  }
  std::vector<array> outputs;
  std::vector<int> position_of_slot(static_cast<size_t>(n) * top_k_);
  int produced = 0;
  for (int e = 0; e < num_experts_; ++e) {
    const auto& slots = slots_of[e];
    if (slots.empty()) {
      continue;
    }
    std::vector<int> tokens(slots.size());
    for (size_t i = 0; i < slots.size(); ++i) {
      tokens[i] = slots[i] / top_k_;
      position_of_slot[slots[i]] = produced++;
    }
    array xe = take(rows, array(tokens, {static_cast<int64_t>(tokens.size())}, int32), 0);
    outputs.push_back((*switch_mlp_)(xe, e));
  }
  array gathered = outputs.size() == 1 ? outputs[0] : concatenate(outputs, 0);
  array per_slot = take(gathered, array(position_of_slot, {n * top_k_}, int32), 0);
  array y = sum(multiply(reshape(per_slot, {n, top_k_, d}), expand_dims(weights, -1)), 1);
  return reshape(y, shape);
}

}  // namespace tessera::lm

namespace tessera::lm {

void stack_experts(nn::ParameterMap& weights, const std::string& prefix, int num_experts,
                   const std::vector<std::string>& from, const std::vector<std::string>& to) {
  if (!weights.count(prefix + ".experts.0." + from[0] + ".weight")) {
    return;
  }
  for (size_t j = 0; j < from.size(); ++j) {
    std::vector<array> experts;
    for (int e = 0; e < num_experts; ++e) {
      const std::string name = prefix + ".experts." + std::to_string(e) + "." + from[j] + ".weight";
      auto it = weights.find(name);
      if (it == weights.end()) {
        throw std::runtime_error("missing tensor '" + name + "'");
      }
      experts.push_back(it->second);
      weights.erase(it);
    }
    weights.insert_or_assign(prefix + ".switch_mlp." + to[j] + ".weight", stack(experts, 0));
  }
}

}  // namespace tessera::lm
