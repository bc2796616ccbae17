// The scheduler: evaluates the graph behind a set of arrays in topological order.
#include "core/node_set.h"
#include "core/primitive.h"
#include "tessera/array.h"

namespace tessera {

namespace {

// Unevaluated nodes reachable from `outputs`, inputs before users. Iterative, so graph depth is
// limited only by memory.
std::vector<array> build_tape(const std::vector<array>& outputs) {
  std::vector<array> tape;
  NodeSet visited;
  std::vector<std::pair<array, size_t>> stack;
  auto visit = [&](const array& a) {
    if (a.is_evaluated() || !visited.insert(a.id())) return;
    for (const auto& s : a.siblings()) visited.insert(s.id());
    stack.emplace_back(a, 0);
  };
  for (const auto& out : outputs) {
    visit(out);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node.inputs().size()) {
        const array& in = node.inputs()[next++];
        visit(in);
        continue;
      }
      tape.push_back(std::move(node));
      stack.pop_back();
    }
  }
  return tape;
}

void run_node(array& node) {
  if (!node.has_primitive()) {
    throw std::runtime_error("[eval] Attempting to evaluate an array that has neither data nor a primitive.");
  }
  std::vector<array> outputs = node.outputs();
  Primitive& p = node.primitive();
  if (p.device().type == Device::Type::gpu) {
    p.eval_gpu(node.inputs(), outputs);
  } else {
    p.eval_cpu(node.inputs(), outputs);
  }
  if (!node.is_tracer()) node.detach();
}

}  // namespace

// True when `a` is one unevaluated node whose inputs are all evaluated (the eager-style case).
bool is_single_node(const array& a) {
  if (a.is_evaluated() || !a.siblings().empty()) return false;
  for (const auto& in : a.inputs()) {
    if (!in.is_evaluated()) return false;
  }
  return true;
}

void eval(std::vector<array> outputs) {
  if (outputs.size() == 1 && is_single_node(outputs[0])) {
    run_node(outputs[0]);
    return;
  }
  std::vector<array> tape = build_tape(outputs);
  // Release each node from the tape as it runs: once its users have run, the users' input lists
  // are the only owners left, so dead intermediate buffers are freed (or donated) early.
  for (auto& slot : tape) {
    array node = std::move(slot);
    if (node.is_evaluated()) continue;  // computed as a sibling of an earlier node
    run_node(node);
  }
}

}  // namespace tessera
