// Evaluation of expression nodes.
#include "lm/template/ast.h"

namespace tessera::jinja {

namespace {

Value call_value(Renderer& renderer, const Value& callee, Args& args) {
  if (callee.is_undefined()) {
    fail_undefined(callee);
  }
  if (!callee.is_callable()) {
    throw EvalError("'" + callee.type_name() + "' object is not callable");
  }
  return callee.as_callable().call(renderer, args);
}

}  // namespace

Args Arguments::eval(Renderer& renderer) const {
  Args args;
  args.positional.reserve(positional.size());
  for (const auto& expr : positional) {
    args.positional.push_back(expr->eval(renderer));
  }
  for (const auto& [name, expr] : keyword) {
    args.keyword.emplace_back(name, expr->eval(renderer));
  }
  return args;
}

Value Literal::eval(Renderer&) const {
  return value;
}

Value NameExpr::eval(Renderer& renderer) const {
  return renderer.lookup(name);
}

Value ListExpr::eval(Renderer& renderer) const {
  List values;
  values.reserve(items.size());
  for (const auto& item : items) {
    values.push_back(item->eval(renderer));
  }
  return tuple ? Value::tuple(std::move(values)) : Value(std::move(values));
}

Value DictExpr::eval(Renderer& renderer) const {
  Value dict = Value::dict();
  for (const auto& [key, value] : items) {
    dict.as_dict().set(key->eval(renderer), value->eval(renderer));
  }
  return dict;
}

Value AttributeExpr::eval(Renderer& renderer) const {
  return get_attribute(object->eval(renderer), name);
}

Value ItemExpr::eval(Renderer& renderer) const {
  Value container = object->eval(renderer);
  return get_item(container, key->eval(renderer));
}

Value SliceExpr::eval(Renderer& renderer) const {
  auto bound = [&](const ExprPtr& expr) { return expr ? expr->eval(renderer) : Value::none(); };
  Value container = object->eval(renderer);
  return slice(container, bound(start), bound(stop), bound(step));
}

Value UnaryExpr::eval(Renderer& renderer) const {
  Value value = operand->eval(renderer);
  if (op == "not") {
    return Value(!value.truthy());
  }
  if (value.is_undefined()) {
    fail_undefined(value);
  }
  if (value.is_float()) {
    return Value(op == "-" ? -value.as_float() : value.as_float());
  }
  if (value.is_int() || value.is_bool()) {
    int64_t i = value.is_bool() ? int64_t{value.as_bool()} : value.as_int();
    return Value(op == "-" ? -i : i);
  }
  throw EvalError("bad operand type for unary " + op + ": '" + value.type_name() + "'");
}

Value BinaryExpr::eval(Renderer& renderer) const {
  Value left = lhs->eval(renderer);
  if (op == "and") {
    return left.truthy() ? rhs->eval(renderer) : left;
  }
  if (op == "or") {
    return left.truthy() ? left : rhs->eval(renderer);
  }
  return binary_op(op, left, rhs->eval(renderer));
}

Value CompareExpr::eval(Renderer& renderer) const {
  Value left = first->eval(renderer);
  for (const auto& [op, expr] : rest) {
    Value right = expr->eval(renderer);
    bool holds;
    if (op == "==") {
      holds = left == right;
    } else if (op == "!=") {
      holds = !(left == right);
    } else if (op == "<") {
      holds = less_than(left, right);
    } else if (op == ">") {
      holds = less_than(right, left);
    } else if (op == "<=") {
      holds = !less_than(right, left);
    } else if (op == ">=") {
      holds = !less_than(left, right);
    } else if (op == "in") {
      holds = contains(right, left);
    } else {
      holds = !contains(right, left);
    }
    if (!holds) {
      return Value(false);
    }
    left = std::move(right);
  }
  return Value(true);
}

Value ConditionalExpr::eval(Renderer& renderer) const {
  if (condition->eval(renderer).truthy()) {
    return then->eval(renderer);
  }
  if (otherwise) {
    return otherwise->eval(renderer);
  }
  return Value::undefined("the inline if-expression on line " + std::to_string(line) +
                          " evaluated to false and no else section was defined.");
}

Value FilterExpr::apply(Renderer& renderer, const Value& subject) const {
  Args evaluated = args.eval(renderer);
  return apply_filter(renderer, name, subject, evaluated);
}

Value FilterExpr::eval(Renderer& renderer) const {
  return apply(renderer, subject->eval(renderer));
}

Value TestExpr::eval(Renderer& renderer) const {
  Value value = subject->eval(renderer);
  Args evaluated = args.eval(renderer);
  return Value(apply_test(renderer, name, value, evaluated) != negated);
}

Value CallExpr::eval(Renderer& renderer) const {
  if (const auto* attribute = dynamic_cast<const AttributeExpr*>(callee.get())) {
    Value object = attribute->object->eval(renderer);
    Args evaluated = args.eval(renderer);
    bool found = false;
    Value result = call_method(object, attribute->name, evaluated, found);
    if (found) {
      return result;
    }
    return call_value(renderer, get_attribute(object, attribute->name), evaluated);
  }
  Value function = callee->eval(renderer);
  Args evaluated = args.eval(renderer);
  return call_value(renderer, function, evaluated);
}

Value call_with_caller(Renderer& renderer, const CallExpr& call, Value caller) {
  Value function = call.callee->eval(renderer);
  Args evaluated = call.args.eval(renderer);
  evaluated.keyword.emplace_back("caller", std::move(caller));
  return call_value(renderer, function, evaluated);
}

}  // namespace tessera::jinja
