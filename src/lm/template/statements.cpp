// Rendering of statement nodes, scoping, macros and the Template entry point.
#include "lm/template/ast.h"

namespace tessera::jinja {

Value call_with_caller(Renderer& renderer, const CallExpr& call, Value caller);

namespace {

// The `loop` variable of a for loop.
class LoopObject : public Object {
 public:
  explicit LoopObject(std::shared_ptr<const List> items) : items_(std::move(items)) {}

  void set_index(size_t index) { index_ = index; }

  Value attribute(std::string_view name) const override {
    const int64_t i = static_cast<int64_t>(index_);
    const int64_t n = static_cast<int64_t>(items_->size());
    if (name == "index") return Value(i + 1);
    if (name == "index0") return Value(i);
    if (name == "revindex") return Value(n - i);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == n - 1);
    if (name == "length") return Value(n);
    if (name == "depth") return Value(1);
    if (name == "depth0") return Value(0);
    if (name == "previtem") {
      return i > 0 ? (*items_)[index_ - 1] : Value::undefined("there is no previous item");
    }
    if (name == "nextitem") {
      return i + 1 < n ? (*items_)[index_ + 1] : Value::undefined("there is no next item");
    }
    if (name == "cycle") {
      size_t index = index_;
      return Value(std::make_shared<Callable>(Callable{"cycle", [index](Renderer&, Args& args) {
        if (args.positional.empty()) {
          throw EvalError("no items for cycling given");
        }
        return args.positional[index % args.positional.size()];
      }}));
    }
    return Value::undefined("'LoopContext object' has no attribute '" + std::string(name) + "'");
  }
  std::string type_name() const override { return "LoopContext"; }

 private:
  std::shared_ptr<const List> items_;
  size_t index_ = 0;
};

// Runs `body` with output captured into a string.
std::string capture(Renderer& renderer, const Body& body) {
  std::string captured;
  std::string* saved = renderer.out;
  renderer.out = &captured;
  try {
    body.render(renderer);
  } catch (...) {
    renderer.out = saved;
    throw;
  }
  renderer.out = saved;
  return captured;
}

class ScopeGuard {
 public:
  ScopeGuard(Renderer& renderer, std::shared_ptr<Scope> scope) : renderer_(renderer), saved_(renderer.scope) {
    renderer.scope = std::move(scope);
  }
  ~ScopeGuard() { renderer_.scope = saved_; }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  Renderer& renderer_;
  std::shared_ptr<Scope> saved_;
};

constexpr int kMaxCallDepth = 200;

std::shared_ptr<Scope> child_scope(const std::shared_ptr<Scope>& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

}  // namespace

Renderer::Renderer(const Value& variables, std::string& out)
    : scope(std::make_shared<Scope>()), out(&out), variables_(variables) {}

Renderer::~Renderer() {
  for (const auto& closure : closures) {
    closure->variables.clear();
  }
}

Value Renderer::lookup(std::string_view name) const {
  for (const Scope* s = scope.get(); s; s = s->parent.get()) {
    if (const Value* found = s->find(name)) {
      return *found;
    }
  }
  if (const Value* found = variables_.as_dict().find(name)) {
    return *found;
  }
  if (const Value* global = find_global(name)) {
    return *global;
  }
  std::string hint = "'";
  hint.append(name).append("' is undefined");
  return Value::undefined(std::move(hint));
}

void Target::assign(Renderer& renderer, const Value& value, int line) const {
  if (!attribute.empty()) {
    Value object = renderer.lookup(names.front());
    if (object.kind() != Value::Kind::Namespace) {
      throw EvalError("cannot assign attribute on non-namespace object '" + names.front() + "' (line " +
                      std::to_string(line) + ")");
    }
    object.as_dict().set(Value(attribute), value);
    return;
  }
  if (!unpack) {
    renderer.assign(names.front(), value);
    return;
  }
  List items = iterate(value);
  if (items.size() != names.size()) {
    throw EvalError(items.size() > names.size()
                        ? "too many values to unpack (expected " + std::to_string(names.size()) + ")"
                        : "not enough values to unpack (expected " + std::to_string(names.size()) + ", got " +
                              std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < names.size(); ++i) {
    renderer.assign(names[i], items[i]);
  }
}

void Body::render(Renderer& renderer) const {
  for (const auto& node : nodes) {
    try {
      node->render(renderer);
    } catch (const EvalError& e) {
      throw TemplateError("template error at line " + std::to_string(node->line) + ": " + e.what());
    }
    if (renderer.flow != Renderer::Flow::Normal) {
      return;
    }
  }
}

void TextNode::render(Renderer& renderer) const {
  renderer.out->append(text);
}

void OutputNode::render(Renderer& renderer) const {
  Value value = expr->eval(renderer);
  if (value.is_string()) {
    renderer.out->append(value.as_string());
  } else {
    renderer.out->append(value.str());
  }
}

void IfNode::render(Renderer& renderer) const {
  for (const auto& [condition, body] : branches) {
    if (condition->eval(renderer).truthy()) {
      body->render(renderer);
      return;
    }
  }
  if (otherwise) {
    otherwise->render(renderer);
  }
}

void ForNode::render(Renderer& renderer) const {
  List items = iterate(iterable->eval(renderer));
  if (filter) {
    List kept;
    ScopeGuard guard(renderer, child_scope(renderer.scope));
    for (auto& item : items) {
      target.assign(renderer, item, line);
      if (filter->eval(renderer).truthy()) {
        kept.push_back(std::move(item));
      }
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    if (otherwise) {
      otherwise->render(renderer);
    }
    return;
  }
  auto shared_items = std::make_shared<const List>(std::move(items));
  auto loop = std::make_shared<LoopObject>(shared_items);
  Value loop_value(std::static_pointer_cast<Object>(loop));
  for (size_t i = 0; i < shared_items->size(); ++i) {
    ScopeGuard guard(renderer, child_scope(renderer.scope));
    loop->set_index(i);
    target.assign(renderer, (*shared_items)[i], line);
    renderer.assign("loop", loop_value);
    body->render(renderer);
    if (renderer.flow == Renderer::Flow::Break) {
      renderer.flow = Renderer::Flow::Normal;
      break;
    }
    renderer.flow = Renderer::Flow::Normal;
  }
}

void SetNode::render(Renderer& renderer) const {
  target.assign(renderer, value->eval(renderer), line);
}

void SetBlockNode::render(Renderer& renderer) const {
  Value value(capture(renderer, *body));
  for (const auto& filter : filters) {
    value = filter->apply(renderer, value);
  }
  target.assign(renderer, value, line);
}

Value MacroNode::make_macro(Renderer& renderer) const {
  std::shared_ptr<Scope> definition_scope = renderer.scope;
  renderer.closures.push_back(definition_scope);
  const MacroNode* macro = this;
  return Value(std::make_shared<Callable>(Callable{name, [macro, definition_scope](Renderer& r, Args& args) {
    if (args.positional.size() > macro->params.size()) {
      throw EvalError("macro '" + macro->name + "' takes not more than " + std::to_string(macro->params.size()) +
                      " argument(s)");
    }
    if (r.call_depth >= kMaxCallDepth) {
      throw EvalError("maximum macro recursion depth (" + std::to_string(kMaxCallDepth) + ") exceeded in '" +
                      macro->name + "'");
    }
    ++r.call_depth;
    struct DepthGuard {
      Renderer& r;
      ~DepthGuard() { --r.call_depth; }
    } depth_guard{r};
    ScopeGuard guard(r, child_scope(definition_scope));
    for (const auto& [key, value] : args.keyword) {
      bool known = key == "caller";
      for (const auto& param : macro->params) {
        known = known || param.first == key;
      }
      if (!known) {
        throw EvalError("macro '" + macro->name + "' takes no keyword argument '" + key + "'");
      }
      if (key == "caller") {
        r.assign(key, value);
      }
    }
    for (size_t i = 0; i < macro->params.size(); ++i) {
      const auto& [param, default_value] = macro->params[i];
      if (const Value* passed = args.get(i, param)) {
        r.assign(param, *passed);
      } else if (default_value) {
        r.assign(param, default_value->eval(r));
      } else {
        r.assign(param, Value::undefined("parameter '" + param + "' was not provided"));
      }
    }
    Renderer::Flow saved_flow = r.flow;
    std::string output = capture(r, *macro->body);
    r.flow = saved_flow;
    return Value(std::move(output));
  }}));
}

void MacroNode::render(Renderer& renderer) const {
  renderer.assign(name, make_macro(renderer));
}

void CallBlockNode::render(Renderer& renderer) const {
  Value result = call_with_caller(renderer, *call, caller.make_macro(renderer));
  renderer.out->append(result.str());
}

void FilterBlockNode::render(Renderer& renderer) const {
  Value value(capture(renderer, *body));
  for (const auto& filter : filters) {
    value = filter->apply(renderer, value);
  }
  renderer.out->append(value.str());
}

void WithNode::render(Renderer& renderer) const {
  // The values are evaluated in the enclosing scope, all before any is assigned.
  List values;
  for (const auto& assignment : assignments) {
    values.push_back(assignment.second->eval(renderer));
  }
  ScopeGuard guard(renderer, child_scope(renderer.scope));
  for (size_t i = 0; i < assignments.size(); ++i) {
    assignments[i].first.assign(renderer, values[i], line);
  }
  body->render(renderer);
}

void LoopControlNode::render(Renderer& renderer) const {
  renderer.flow = flow;
}

Template::Template(std::string_view source) : root_(parse(source)) {}

std::string Template::render(const Value& variables) const {
  if (!variables.is_dict()) {
    throw TemplateError("template variables must be a dict, got " + variables.type_name());
  }
  std::string out;
  Renderer renderer(variables, out);
  root_->render(renderer);
  return out;
}

}  // namespace tessera::jinja
