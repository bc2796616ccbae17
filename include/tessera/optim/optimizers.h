// Optimizers (mlx.optimizers): SGD, Adam, AdamW with per-parameter state trees, and gradient
// clipping by global norm. Semantics and defaults are MLX's: the step counter starts at 0, the
// learning rate of an update is schedule(step) and the update itself sees step + 1 (Adam's bias
// correction).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "tessera/array.h"
#include "tessera/nn/module.h"
#include "tessera/optim/schedulers.h"

namespace tessera::optim {

using Tree = std::map<std::string, array>;

class Optimizer {
 public:
  using LearningRate = std::variant<float, Schedule>;
  explicit Optimizer(LearningRate learning_rate) : learning_rate_(std::move(learning_rate)) {}
  virtual ~Optimizer() = default;

  // Returns the parameters after one update with `gradients` (same keys; a gradient without
  // a parameter is an error naming it). Parameters without a gradient are returned unchanged.
  Tree apply_gradients(const Tree& gradients, const Tree& parameters);
  // model.update(apply_gradients(gradients, model.trainable_parameters())).
  void update(nn::Module& model, const Tree& gradients);

  // The learning rate the next update uses.
  float learning_rate() const;
  int step() const { return step_; }
  // Every state array as "<parameter>.<slot>" plus "step", for checkpoints; and back.
  Tree state() const;
  void set_state(const Tree& state);
  // The arrays to evaluate together with the updated parameters.
  std::vector<array> state_arrays() const;

 protected:
  using Slots = std::map<std::string, array>;
  // The new value of one parameter; `slots` starts empty on the first update of a parameter.
  virtual array apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) = 0;

 private:
  LearningRate learning_rate_;
  int step_ = 0;
  std::map<std::string, Slots> state_;
};

struct SGDOptions {
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  float dampening = 0.0f;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  explicit SGD(LearningRate learning_rate, SGDOptions options = {});

 protected:
  array apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) override;

 private:
  SGDOptions options_;
};

struct AdamOptions {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  bool bias_correction = false;
};

class Adam : public Optimizer {
 public:
  explicit Adam(LearningRate learning_rate, AdamOptions options = {});

 protected:
  array apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) override;

 private:
  AdamOptions options_;
};

// Adam with decoupled weight decay: parameter * (1 - lr * weight_decay) before the Adam step.
class AdamW : public Adam {
 public:
  explicit AdamW(LearningRate learning_rate, AdamOptions options = {}, float weight_decay = 0.01f);

 protected:
  array apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) override;

 private:
  float weight_decay_;
};

struct AdafactorOptions {
  float eps1 = 1e-30f;  // added to squared gradients
  float eps2 = 1e-3f;   // floor of the parameter scale
  float clip_threshold = 1.0f;
  float decay_rate = -0.8f;
  std::optional<float> beta1;  // first moment, off by default
  float weight_decay = 0.0f;
  bool scale_parameter = true;
  bool relative_step = true;  // the step size is min(1e-2, 1/sqrt(step)); the learning rate is unused
  bool warmup_init = false;
};

// Adafactor (MLX's): factored second moments (row and column means) for matrices.
class Adafactor : public Optimizer {
 public:
  explicit Adafactor(LearningRate learning_rate = 0.0f, AdafactorOptions options = {});

 protected:
  array apply_single(const array& gradient, const array& parameter, Slots& slots, float lr, int step) override;

 private:
  AdafactorOptions options_;
};

// Scales every gradient by max_norm / (norm + 1e-6) when the global L2 norm exceeds max_norm.
// Returns the (possibly) scaled gradients and the norm before clipping.
std::pair<Tree, array> clip_grad_norm(const Tree& gradients, float max_norm);

}  // namespace tessera::optim
