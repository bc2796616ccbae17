#include "tessera/optim/optimizers.h"

#include <cmath>
#include <stdexcept>

#include "tessera/ops.h"

namespace tessera::optim {

Tree Optimizer::apply_gradients(const Tree& gradients, const Tree& parameters) {
  const float lr = learning_rate();
  ++step_;
  Tree updated = parameters;
  for (const auto& [name, gradient] : gradients) {
    auto it = parameters.find(name);
    if (it == parameters.end()) {
      throw std::invalid_argument("[Optimizer] gradient '" + name + "' has no parameter");
    }
    if (gradient.shape() != it->second.shape()) {
      throw std::invalid_argument("[Optimizer] gradient '" + name + "' does not have its parameter's shape");
    }
    updated.insert_or_assign(name, apply_single(gradient, it->second, state_[name], lr, step_));
  }
  return updated;
}

void Optimizer::update(nn::Module& model, const Tree& gradients) {
  model.update(apply_gradients(gradients, model.trainable_parameters()));
}

float Optimizer::learning_rate() const {
  if (const float* lr = std::get_if<float>(&learning_rate_)) return *lr;
  return std::get<Schedule>(learning_rate_)(step_);
}

Tree Optimizer::state() const {
  Tree out;
  for (const auto& [name, slots] : state_) {
    for (const auto& [slot, value] : slots) out.insert_or_assign(name + "." + slot, value);
  }
  out.insert_or_assign("step", array(step_));
  return out;
}

void Optimizer::set_state(const Tree& state) {
  state_.clear();
  for (const auto& [key, value] : state) {
    if (key == "step") {
      step_ = astype(value, int32).item<int>();
      continue;
    }
    const size_t dot = key.rfind('.');
    if (dot == std::string::npos) throw std::invalid_argument("[Optimizer] bad state key '" + key + "'");
    state_[key.substr(0, dot)].insert_or_assign(key.substr(dot + 1), value);
  }
}

std::vector<array> Optimizer::state_arrays() const {
  std::vector<array> out;
  for (const auto& [name, slots] : state_) {
    for (const auto& [slot, value] : slots) out.push_back(value);
  }
  return out;
}

SGD::SGD(LearningRate learning_rate, SGDOptions options) : Optimizer(std::move(learning_rate)), options_(options) {
  if (options_.nesterov && (options_.momentum <= 0.0f || options_.dampening != 0.0f)) {
    throw std::invalid_argument("[SGD] nesterov momentum needs momentum > 0 and zero dampening");
  }
}

array SGD::apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int) {
  array g = gradient;
  if (options_.weight_decay != 0.0f) g = add(g, multiply(parameter, array(options_.weight_decay)));
  if (options_.momentum <= 0.0f) return subtract(parameter, multiply(g, array(lr)));
  auto it = slots.find("v");
  array v = it == slots.end() ? zeros_like(parameter) : it->second;
  v = multiply(v, array(options_.momentum));
  v = add(v, options_.dampening > 0.0f ? multiply(g, array(1.0f - options_.dampening)) : g);
  slots.insert_or_assign("v", v);
  array step = options_.nesterov ? add(g, multiply(v, array(options_.momentum))) : v;
  return subtract(parameter, multiply(step, array(lr)));
}

Adam::Adam(LearningRate learning_rate, AdamOptions options) : Optimizer(std::move(learning_rate)), options_(options) {}

array Adam::apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) {
  const float b1 = options_.beta1;
  const float b2 = options_.beta2;
  auto m_it = slots.find("m");
  auto v_it = slots.find("v");
  array m = m_it == slots.end() ? zeros_like(parameter) : m_it->second;
  array v = v_it == slots.end() ? zeros_like(parameter) : v_it->second;
  m = add(multiply(m, array(b1)), multiply(gradient, array(1.0f - b1)));
  v = add(multiply(v, array(b2)), multiply(square(gradient), array(1.0f - b2)));
  slots.insert_or_assign("m", m);
  slots.insert_or_assign("v", v);
  if (options_.bias_correction) {
    const float c1 = lr / (1.0f - std::pow(b1, static_cast<float>(step)));
    const float c2 = 1.0f / std::sqrt(1.0f - std::pow(b2, static_cast<float>(step)));
    array denominator = add(multiply(sqrt(v), array(c2)), array(options_.eps));
    return subtract(parameter, divide(multiply(m, array(c1)), denominator));
  }
  return subtract(parameter, divide(multiply(m, array(lr)), add(sqrt(v), array(options_.eps))));
}

AdamW::AdamW(LearningRate learning_rate, AdamOptions options, float weight_decay)
    : Adam(std::move(learning_rate), options), weight_decay_(weight_decay) {}

array AdamW::apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) {
  array decayed = multiply(parameter, array(1.0f - lr * weight_decay_));
  return Adam::apply_single(gradient, decayed, slots, lr, step);
}

std::pair<Tree, array> clip_grad_norm(const Tree& gradients, float max_norm) {
  array total = zeros({}, float32);
  for (const auto& [name, g] : gradients) total = add(total, sum(square(astype(g, float32))));
  array norm = sqrt(total);
  array factor = where(less(norm, array(max_norm)), array(1.0f), divide(array(max_norm), add(norm, array(1e-6f))));
  Tree clipped;
  for (const auto& [name, g] : gradients) clipped.insert_or_assign(name, multiply(g, astype(factor, g.dtype())));
  return {clipped, norm};
}

}  // namespace tessera::optim
