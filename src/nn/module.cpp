#include "tessera/nn/module.h"

#include <sstream>
#include <stdexcept>

namespace tessera::nn {
namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string shape_string(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    os << (i ? ", " : "") << shape[i];
  }
  os << "]";
  return os.str();
}

// "a, b, c" with at most `limit` names, then "and N more".
std::string name_list(const std::vector<std::string>& names, size_t limit = 5) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) {
    out += (i ? ", " : "") + names[i];
  }
  if (names.size() > limit) {
    out += " and " + std::to_string(names.size() - limit) + " more";
  }
  return out;
}

}  // namespace

const array& Module::parameter(const std::string& name) const {
  auto it = parameters_.find(name);
  if (it == parameters_.end()) {
    throw std::out_of_range("[" + type_name() + "] has no parameter '" + name + "'");
  }
  return it->second;
}

void Module::register_parameter(const std::string& name, array value) {
  parameters_.insert_or_assign(name, std::move(value));
}

const std::shared_ptr<Module>& Module::add_child(const std::string& name, std::shared_ptr<Module> module,
                                                 std::function<bool(const Module&)> accepts) {
  if (!module) {
    throw std::invalid_argument("[" + type_name() + "] child '" + name + "' is null");
  }
  auto& slot = slots_[name];
  slot.module = std::move(module);
  slot.accepts = std::move(accepts);
  return slot.module;
}

std::map<std::string, std::shared_ptr<Module>> Module::children() const {
  std::map<std::string, std::shared_ptr<Module>> out;
  for (const auto& [name, slot] : slots_) {
    out.emplace(name, slot.module);
  }
  return out;
}

void Module::collect(const std::string& prefix, bool trainable_only, ParameterMap& out) const {
  for (const auto& [name, value] : parameters_) {
    if (!trainable_only || !is_frozen(name)) {
      out.insert_or_assign(join(prefix, name), value);
    }
  }
  for (const auto& [name, slot] : slots_) {
    slot.module->collect(join(prefix, name), trainable_only, out);
  }
}

ParameterMap Module::parameters() const {
  ParameterMap out;
  collect("", false, out);
  return out;
}

ParameterMap Module::trainable_parameters() const {
  ParameterMap out;
  collect("", true, out);
  return out;
}

void Module::set_frozen(const std::vector<std::string>& keys, bool recurse, bool frozen) {
  if (keys.empty()) {
    for (const auto& [name, value] : parameters_) {
      frozen ? (void)frozen_.insert(name) : (void)frozen_.erase(name);
    }
  } else {
    for (const auto& key : keys) {
      // Keys are local names; a descendant may not have them all.
      if (parameters_.count(key)) {
        frozen ? (void)frozen_.insert(key) : (void)frozen_.erase(key);
      }
    }
  }
  if (recurse) {
    for (auto& [name, slot] : slots_) {
      slot.module->set_frozen(keys, recurse, frozen);
    }
  }
}

void Module::freeze(const std::vector<std::string>& keys, bool recurse) { set_frozen(keys, recurse, true); }

void Module::unfreeze(const std::vector<std::string>& keys, bool recurse) { set_frozen(keys, recurse, false); }

std::pair<Module*, std::string> Module::resolve_parameter(const std::string& name) {
  if (parameters_.count(name)) {
    return {this, name};
  }
  // Child names may themselves contain no dots, so split at each dot in turn.
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    auto it = slots_.find(name.substr(0, dot));
    if (it != slots_.end()) {
      auto found = it->second.module->resolve_parameter(name.substr(dot + 1));
      if (found.first) {
        return found;
      }
    }
  }
  return {nullptr, ""};
}

void Module::update(const ParameterMap& parameters) {
  for (const auto& [name, value] : parameters) {
    auto [owner, local] = resolve_parameter(name);
    if (!owner) {
      throw std::invalid_argument("[update] '" + name + "' is not a parameter of this " + type_name());
    }
    owner->parameters_.insert_or_assign(local, value);
  }
}

void Module::load_weights(const ParameterMap& weights, bool strict) {
  const ParameterMap current = parameters();
  std::vector<std::string> unexpected;
  std::vector<std::string> missing;
  ParameterMap accepted;
  for (const auto& [name, value] : weights) {
    auto it = current.find(name);
    if (it == current.end()) {
      unexpected.push_back(name);
      continue;
    }
    if (value.shape() != it->second.shape()) {
      throw std::invalid_argument("[load_weights] tensor '" + name + "' has shape " + shape_string(value.shape()) +
                                  ", expected " + shape_string(it->second.shape()));
    }
    accepted.insert_or_assign(name, value);
  }
  for (const auto& [name, value] : current) {
    if (!weights.count(name)) {
      missing.push_back(name);
    }
  }
  if (strict && !missing.empty()) {
    throw std::invalid_argument("[load_weights] missing tensor" + std::string(missing.size() > 1 ? "s " : " ") +
                                name_list(missing));
  }
  if (strict && !unexpected.empty()) {
    throw std::invalid_argument("[load_weights] unexpected tensor" +
                                std::string(unexpected.size() > 1 ? "s " : " ") + name_list(unexpected));
  }
  update(accepted);
}

std::shared_ptr<Module> Module::module(const std::string& path) const {
  const Module* node = this;
  std::shared_ptr<Module> found;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto it = node->slots_.find(part);
    if (it == node->slots_.end()) {
      throw std::out_of_range("[module] no module at '" + path + "'");
    }
    found = it->second.module;
    node = found.get();
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return found;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& [name, slot] : slots_) {
    out.emplace_back(name, slot.module);
    for (auto& [sub, module] : slot.module->named_modules()) {
      out.emplace_back(name + "." + sub, module);
    }
  }
  return out;
}

void Module::replace_module(const std::string& path, std::shared_ptr<Module> replacement) {
  if (!replacement) {
    throw std::invalid_argument("[replace_module] replacement for '" + path + "' is null");
  }
  const size_t dot = path.rfind('.');
  Module* parent = this;
  std::shared_ptr<Module> holder;
  if (dot != std::string::npos) {
    holder = module(path.substr(0, dot));
    parent = holder.get();
  }
  const std::string name = dot == std::string::npos ? path : path.substr(dot + 1);
  auto it = parent->slots_.find(name);
  if (it == parent->slots_.end()) {
    throw std::out_of_range("[replace_module] no module at '" + path + "'");
  }
  if (!it->second.accepts(*replacement)) {
    throw std::invalid_argument("[replace_module] a " + replacement->type_name() + " cannot stand in for the " +
                                it->second.module->type_name() + " at '" + path + "'");
  }
  replacement->train(parent->training_);
  it->second.module = std::move(replacement);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, slot] : slots_) {
    slot.module->train(on);
  }
}

}  // namespace tessera::nn
