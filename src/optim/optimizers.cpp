#include "tessera/optim/optimizers.h"

#include <algorithm>
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

Adafactor::Adafactor(LearningRate learning_rate, AdafactorOptions options)
    : Optimizer(std::move(learning_rate)), options_(options) {}

namespace {

array rms(const array& x) { return sqrt(mean(square(astype(x, float32)))); }

array slot_or_zeros(std::map<std::string, array>& slots, const std::string& name, const Shape& shape) {
  auto it = slots.find(name);
  return it == slots.end() ? zeros(shape, float32) : it->second;
}

}  // namespace

array Adafactor::apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) {
  const auto& o = options_;
  float step_size = lr;
  if (o.relative_step) {
    const float min_step = o.warmup_init ? 1e-6f * static_cast<float>(step) : 1e-2f;
    step_size = std::min(min_step, 1.0f / std::sqrt(static_cast<float>(step)));
  }
  array learning_rate = array(step_size);
  if (o.scale_parameter) learning_rate = multiply(maximum(array(o.eps2), rms(parameter)), learning_rate);
  const float beta2 = 1.0f - std::pow(static_cast<float>(step), o.decay_rate);
  array g = astype(gradient, float32);
  array update = add(square(g), array(o.eps1));
  const Shape& shape = parameter.shape();
  if (shape.size() >= 2) {
    Shape row_shape(shape.begin(), shape.end() - 1);
    Shape col_shape(shape.begin(), shape.end() - 2);
    col_shape.push_back(shape.back());
    array row = add(multiply(slot_or_zeros(slots, "exp_avg_sq_row", row_shape), array(beta2)),
                    multiply(mean(update, -1), array(1.0f - beta2)));
    array col = add(multiply(slot_or_zeros(slots, "exp_avg_sq_col", col_shape), array(beta2)),
                    multiply(mean(update, -2), array(1.0f - beta2)));
    slots.insert_or_assign("exp_avg_sq_row", row);
    slots.insert_or_assign("exp_avg_sq_col", col);
    array r_factor = rsqrt(divide(row, mean(row, -1, true)));
    array c_factor = rsqrt(col);
    update = multiply(multiply(expand_dims(r_factor, -1), expand_dims(c_factor, -2)), g);
  } else {
    array avg = add(multiply(slot_or_zeros(slots, "exp_avg_sq", shape), array(beta2)),
                    multiply(update, array(1.0f - beta2)));
    slots.insert_or_assign("exp_avg_sq", avg);
    update = multiply(rsqrt(avg), g);
  }
  update = divide(update, maximum(array(1.0f), divide(rms(update), array(o.clip_threshold))));
  update = multiply(learning_rate, update);
  if (o.beta1) {
    array avg = add(multiply(slot_or_zeros(slots, "exp_avg", shape), array(*o.beta1)),
                    multiply(update, array(1.0f - *o.beta1)));
    slots.insert_or_assign("exp_avg", avg);
    update = avg;
  }
  array p = astype(parameter, float32);
  if (o.weight_decay != 0.0f) p = add(p, multiply(p, multiply(learning_rate, array(-o.weight_decay))));
  return astype(subtract(p, update), parameter.dtype());
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
