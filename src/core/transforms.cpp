#include "tessera/transforms.h"

#include <unordered_map>
#include <unordered_set>

#include "core/node_set.h"
#include "core/primitive.h"
#include "core/primitives/shape.h"
#include "core/transforms_impl.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace detail {

namespace {
thread_local int tracing_depth = 0;
}

bool in_tracing() { return tracing_depth > 0; }
TracingScope::TracingScope() { ++tracing_depth; }
TracingScope::~TracingScope() { --tracing_depth; }

}  // namespace detail

namespace {

using CotangentFn = std::function<std::vector<array>(const std::vector<array>& outputs)>;

// A fresh tracer standing for a primal: it shares the primal's data and stops the backward walk.
array make_tracer(const array& p) {
  array t(p.shape(), p.dtype(), std::make_shared<Copy>(default_device(), true), {p});
  t.set_tracer(true);
  return t;
}

// Nodes between the tracers and the outputs that depend on a tracer, inputs before users (one
// entry per multi-output group).
std::vector<array> build_tape(const std::vector<array>& outputs, const std::unordered_set<uintptr_t>& tracer_ids,
                              NodeSet& on_path) {
  NodeSet visited;
  for (uintptr_t id : tracer_ids) {
    visited.insert(id);
    on_path.insert(id);
  }
  std::vector<array> tape;
  std::vector<std::pair<array, size_t>> stack;
  auto visit = [&](const array& a) {
    if (!visited.insert(a.id())) return;
    for (const auto& s : a.siblings()) visited.insert(s.id());
    stack.emplace_back(a, 0);
  };
  for (const auto& out : outputs) {
    visit(out);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node.inputs().size()) {
        visit(node.inputs()[next++]);
        continue;
      }
      bool needed = false;
      for (const auto& in : node.inputs()) needed |= on_path.contains(in.id());
      if (needed && node.has_primitive()) {
        for (const auto& o : node.outputs()) on_path.insert(o.id());
        tape.push_back(std::move(node));
      }
      stack.pop_back();
    }
  }
  return tape;
}

std::pair<std::vector<array>, std::vector<array>> vjp_impl(const MultiFn& fun, const std::vector<array>& primals,
                                                           const CotangentFn& make_cotangents) {
  detail::TracingScope scope;
  std::vector<array> tracers;
  std::unordered_set<uintptr_t> tracer_ids;
  for (const auto& p : primals) {
    tracers.push_back(make_tracer(p));
    tracer_ids.insert(tracers.back().id());
  }
  std::vector<array> outputs = fun(tracers);
  std::vector<array> cotangents = make_cotangents(outputs);

  std::unordered_map<uintptr_t, array> cotan;
  for (size_t i = 0; i < cotangents.size() && i < outputs.size(); ++i) {
    auto [it, inserted] = cotan.try_emplace(outputs[i].id(), cotangents[i]);
    if (!inserted) it->second = it->second + cotangents[i];
  }

  NodeSet on_path;
  std::vector<array> tape = build_tape(outputs, tracer_ids, on_path);
  for (auto it = tape.rbegin(); it != tape.rend(); ++it) {
    const array& node = *it;
    std::vector<array> node_outputs = node.outputs();
    std::vector<array> node_cotangents;
    bool any = false;
    for (const auto& o : node_outputs) {
      auto c = cotan.find(o.id());
      if (c != cotan.end()) {
        node_cotangents.push_back(c->second);
        any = true;
      } else {
        node_cotangents.push_back(zeros_like(o));
      }
    }
    if (!any) continue;
    // Only inputs that depend on a primal get a gradient (e.g. no weight gradient for frozen weights).
    std::vector<int> argnums;
    for (size_t i = 0; i < node.inputs().size(); ++i) {
      if (on_path.contains(node.inputs()[i].id())) argnums.push_back(static_cast<int>(i));
    }
    if (argnums.empty()) continue;
    std::vector<array> grads = node.primitive().vjp(node.inputs(), node_cotangents, argnums, node_outputs);
    for (size_t k = 0; k < argnums.size(); ++k) {
      const array& in = node.inputs()[argnums[k]];
      auto [c, inserted] = cotan.try_emplace(in.id(), grads[k]);
      if (!inserted) c->second = c->second + grads[k];
    }
  }

  std::vector<array> grads;
  for (size_t i = 0; i < tracers.size(); ++i) {
    auto c = cotan.find(tracers[i].id());
    grads.push_back(c != cotan.end() ? astype(c->second, primals[i].dtype()) : zeros_like(primals[i]));
  }
  return {outputs, grads};
}

// Recomputes its function in the backward pass instead of keeping the forward graph alive.
class Checkpoint : public Primitive {
 public:
  Checkpoint(Device d, MultiFn fun) : Primitive(d), fun_(std::move(fun)) {}

  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override {
    std::vector<array> detached;
    for (const auto& in : inputs) {
      array a(in.shape(), in.dtype(), nullptr, {});
      a.copy_shared_buffer(in);
      detached.push_back(a);
    }
    std::vector<array> results = fun_(detached);
    eval(results);
    for (size_t i = 0; i < outputs.size(); ++i) outputs[i].copy_shared_buffer(results[i]);
  }

  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>&) override {
    // The recomputation waits for the cotangents: evaluated together with the rest of the
    // backward pass, it then runs only when the backward walk reaches this function, so one
    // function's intermediates are alive at a time instead of all of them.
    auto [outs, grads] =
        vjp_impl(fun_, depends(primals, cotangents), [&](const std::vector<array>&) { return cotangents; });
    std::vector<array> selected;
    for (int a : argnums) selected.push_back(grads[a]);
    // All gradients are computed together: the recomputed intermediates are freed once, when the
    // backward pass leaves this function, instead of being kept until the last of them is asked for.
    return depends(selected, selected);
  }

  const char* name() const override { return "checkpoint"; }

 private:
  MultiFn fun_;
};

void check_argnums(const std::vector<int>& argnums, size_t num_inputs, const char* op) {
  if (argnums.empty()) throw std::invalid_argument(std::string("[") + op + "] argnums must not be empty.");
  std::unordered_set<int> seen;
  for (int a : argnums) {
    if (a < 0 || static_cast<size_t>(a) >= num_inputs) {
      throw std::out_of_range(std::string("[") + op + "] argnum " + std::to_string(a) + " is out of range for " +
                              std::to_string(num_inputs) + " arguments.");
    }
    if (!seen.insert(a).second) throw std::invalid_argument(std::string("[") + op + "] Duplicate argnums.");
  }
}

}  // namespace

std::pair<std::vector<array>, std::vector<array>> vjp(const MultiFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents) {
  return vjp_impl(fun, primals, [&](const std::vector<array>& outputs) {
    if (outputs.size() != cotangents.size()) {
      throw std::invalid_argument("[vjp] The function has " + std::to_string(outputs.size()) + " outputs but " +
                                  std::to_string(cotangents.size()) + " cotangents were given.");
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].shape() != cotangents[i].shape()) {
        throw std::invalid_argument("[vjp] Output " + std::to_string(i) + " has shape " +
                                    shape_to_string(outputs[i].shape()) + " but its cotangent has shape " +
                                    shape_to_string(cotangents[i].shape()) + ".");
      }
    }
    return cotangents;
  });
}

std::pair<array, array> vjp(const std::function<array(const array&)>& fun, const array& primal,
                            const array& cotangent) {
  auto [outs, grads] =
      vjp([&](const std::vector<array>& in) { return std::vector<array>{fun(in[0])}; }, {primal}, {cotangent});
  return {outs[0], grads[0]};
}

ValueAndGradFn value_and_grad(const MultiFn& fun, const std::vector<int>& argnums) {
  return [fun, argnums](const std::vector<array>& inputs) {
    check_argnums(argnums, inputs.size(), "value_and_grad");
    std::vector<array> primals;
    for (int a : argnums) primals.push_back(inputs[a]);
    auto partial = [&](const std::vector<array>& p) {
      std::vector<array> args = inputs;
      for (size_t i = 0; i < argnums.size(); ++i) args[argnums[i]] = p[i];
      return fun(args);
    };
    return vjp_impl(partial, primals, [](const std::vector<array>& outputs) {
      if (outputs.empty() || outputs[0].size() != 1) {
        throw std::invalid_argument("[value_and_grad] The function's first output must be a scalar, got shape " +
                                    (outputs.empty() ? std::string("(none)") : shape_to_string(outputs[0].shape())) +
                                    ".");
      }
      return std::vector<array>{ones_like(outputs[0])};
    });
  };
}

ValueAndGradFn value_and_grad(const std::function<array(const std::vector<array>&)>& fun,
                              const std::vector<int>& argnums) {
  return value_and_grad(MultiFn([fun](const std::vector<array>& in) { return std::vector<array>{fun(in)}; }),
                        argnums);
}

std::function<std::pair<array, array>(const array&)> value_and_grad(const std::function<array(const array&)>& fun) {
  auto vg = value_and_grad(MultiFn([fun](const std::vector<array>& in) { return std::vector<array>{fun(in[0])}; }));
  return [vg](const array& x) {
    auto [values, grads] = vg({x});
    return std::make_pair(values[0], grads[0]);
  };
}

std::function<std::pair<array, ParamMap>(const ParamMap&)> value_and_grad(
    const std::function<array(const ParamMap&)>& fun) {
  return [fun](const ParamMap& params) {
    std::vector<std::string> keys;
    std::vector<array> values;
    for (const auto& [k, v] : params) {
      keys.push_back(k);
      values.push_back(v);
    }
    std::vector<int> argnums(values.size());
    for (size_t i = 0; i < argnums.size(); ++i) argnums[i] = static_cast<int>(i);
    auto rebuild = [&keys](const std::vector<array>& in) {
      ParamMap m;
      for (size_t i = 0; i < keys.size(); ++i) m.emplace(keys[i], in[i]);
      return m;
    };
    auto [outs, grads] = vjp_impl([&](const std::vector<array>& in) { return std::vector<array>{fun(rebuild(in))}; },
                                  values, [](const std::vector<array>& outputs) {
                                    if (outputs[0].size() != 1) {
                                      throw std::invalid_argument(
                                          "[value_and_grad] The function must return a scalar, got shape " +
                                          shape_to_string(outputs[0].shape()) + ".");
                                    }
                                    return std::vector<array>{ones_like(outputs[0])};
                                  });
    return std::make_pair(outs[0], rebuild(grads));
  };
}

MultiFn grad(const std::function<array(const std::vector<array>&)>& fun, const std::vector<int>& argnums) {
  auto vg = value_and_grad(fun, argnums);
  return [vg](const std::vector<array>& inputs) { return vg(inputs).second; };
}

std::function<array(const array&)> grad(const std::function<array(const array&)>& fun) {
  auto vg = value_and_grad(fun);
  return [vg](const array& x) { return vg(x).second; };
}

MultiFn checkpoint(const MultiFn& fun) {
  return [fun](const std::vector<array>& inputs) {
    std::vector<array> traced = fun(inputs);
    std::vector<Shape> shapes;
    std::vector<Dtype> dtypes;
    for (const auto& t : traced) {
      shapes.push_back(t.shape());
      dtypes.push_back(t.dtype());
    }
    return array::make_arrays(std::move(shapes), dtypes, std::make_shared<Checkpoint>(default_device(), fun), inputs);
  };
}

}  // namespace tessera
