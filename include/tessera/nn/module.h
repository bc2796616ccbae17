// Module: a named tree of parameters and sub-modules, modelled on mlx.nn.Module.
//
// Full parameter names are the dotted paths of the tree, as in Hugging Face checkpoints
// (`model.layers.0.self_attn.q_proj.weight`). Children are held by shared_ptr in named slots,
// so a child can be swapped in place (a Linear for a LoRALinear or QuantizedLinear) and the
// parent, which reads the slot on every call, uses the new one at once. Parameters are plain
// arrays stored as given: a memory-mapped weight stays memory-mapped, in its stored dtype.
#pragma once

#include "tessera/array.h"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tessera::nn {

using ParameterMap = std::map<std::string, array>;

class Module;

// A typed handle to a named child slot of a module. It reads the slot on every access, so a
// replacement made with Module::replace_module is seen by the parent.
template <typename M>
class Child {
 public:
  Child() = default;
  M& operator*() const { return static_cast<M&>(**slot_); }
  M* operator->() const { return &**this; }
  std::shared_ptr<M> get() const { return std::static_pointer_cast<M>(*slot_); }

 private:
  friend class Module;
  explicit Child(const std::shared_ptr<Module>* slot) : slot_(slot) {}
  const std::shared_ptr<Module>* slot_ = nullptr;
};

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // The class name, for error messages ("Linear", "Attention").
  virtual std::string type_name() const { return "Module"; }

  // ---- parameters ----
  // Every parameter of this module and its descendants, by dotted name.
  ParameterMap parameters() const;
  // The same, without the frozen ones.
  ParameterMap trainable_parameters() const;
  // This module's own parameters, by local name.
  const ParameterMap& local_parameters() const { return parameters_; }
  bool has_parameter(const std::string& name) const { return parameters_.count(name) > 0; }
  // This module's own parameter `name`; throws naming the module type when it has none.
  const array& parameter(const std::string& name) const;

  // Freezes (excludes from trainable_parameters) the named local parameters, or all of them
  // when `keys` is empty; with `recurse`, does the same in every descendant.
  void freeze(const std::vector<std::string>& keys = {}, bool recurse = true);
  void unfreeze(const std::vector<std::string>& keys = {}, bool recurse = true);
  bool is_frozen(const std::string& name) const { return frozen_.count(name) > 0; }

  // Sets parameters by dotted name (shapes may change). A name that is not a parameter of the
  // tree is an error naming it.
  void update(const ParameterMap& parameters);

  // Loads checkpoint weights by dotted name. A weight whose shape differs from the parameter's is
  // always an error; with `strict`, so are parameters without a weight (missing) and weights
  // without a parameter (unexpected). Errors name the tensors. Weights keep their dtype.
  void load_weights(const ParameterMap& weights, bool strict = true);

  // ---- children ----
  // The direct children by name.
  std::map<std::string, std::shared_ptr<Module>> children() const;
  bool has_child(const std::string& name) const { return slots_.count(name) > 0; }
  // The descendant at a dotted path ("model.layers.0.self_attn"); throws when there is none.
  std::shared_ptr<Module> module(const std::string& path) const;
  // Every descendant with its dotted path, parents before their children.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;
  // Puts `replacement` in the slot at the dotted path. The replacement must be of the kind the
  // slot was registered with (e.g. any UnaryModule for a Linear slot).
  void replace_module(const std::string& path, std::shared_ptr<Module> replacement);

  // ---- mode ----
  // Training mode (dropout active) for this module and its descendants.
  void train(bool on = true);
  bool training() const { return training_; }

 protected:
  // Adds or replaces the local parameter `name`.
  void register_parameter(const std::string& name, array value);

  // Adds a child slot that accepts modules of type M (and its subclasses).
  template <typename M>
  Child<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    auto accepts = [](const Module& m) { return dynamic_cast<const M*>(&m) != nullptr; };
    return Child<M>(&add_child(name, std::move(module), accepts));
  }

 private:
  struct Slot {
    std::shared_ptr<Module> module;
    std::function<bool(const Module&)> accepts;
  };

  const std::shared_ptr<Module>& add_child(const std::string& name, std::shared_ptr<Module> module,
                                           std::function<bool(const Module&)> accepts);
  void collect(const std::string& prefix, bool trainable_only, ParameterMap& out) const;
  void set_frozen(const std::vector<std::string>& keys, bool recurse, bool frozen);
  // The module holding the dotted parameter name and the local name in it, or nullptr.
  std::pair<Module*, std::string> resolve_parameter(const std::string& name);

  ParameterMap parameters_;
  std::set<std::string> frozen_;
  std::map<std::string, Slot> slots_;  // map nodes are stable: Child handles point into them
  bool training_ = false;
};

// A module that maps one array to one array (Linear, Embedding, norms, activations). Parents
// call their children through this interface, which is what makes them swappable.
class UnaryModule : public Module {
 public:
  virtual array operator()(const array& x) = 0;
};

// Children named "0", "1", ... (the `layers` of a transformer).
template <typename M>
class ModuleList : public Module {
 public:
  std::string type_name() const override { return "ModuleList"; }
  void push_back(std::shared_ptr<M> module) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(module)));
  }
  M& operator[](size_t i) const { return *items_.at(i); }
  size_t size() const { return items_.size(); }

 private:
  std::vector<Child<M>> items_;
};

}  // namespace tessera::nn
