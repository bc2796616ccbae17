// Jinja's builtin tests (`x is defined`, `x is string`, ...).
#include "lm/template/runtime.h"
#include "lm/template/strings.h"

#include <cmath>
#include <functional>
#include <unordered_map>

namespace tessera::jinja {

namespace {

using Test = std::function<bool(const Value&, const Args&)>;

const Value& operand(const Args& args, std::string_view test) {
  if (args.positional.empty()) {
    throw EvalError("test '" + std::string(test) + "' needs an argument");
  }
  return args.positional[0];
}

bool is_integer(const Value& v) {
  return v.is_int();
}

const std::unordered_map<std::string_view, Test>& tests() {
  static const std::unordered_map<std::string_view, Test> table = [] {
    std::unordered_map<std::string_view, Test> t;
    t["defined"] = [](const Value& v, const Args&) { return !v.is_undefined(); };
    t["undefined"] = [](const Value& v, const Args&) { return v.is_undefined(); };
    t["none"] = [](const Value& v, const Args&) { return v.is_none(); };
    t["boolean"] = [](const Value& v, const Args&) { return v.is_bool(); };
    t["true"] = [](const Value& v, const Args&) { return v.is_bool() && v.as_bool(); };
    t["false"] = [](const Value& v, const Args&) { return v.is_bool() && !v.as_bool(); };
    t["integer"] = [](const Value& v, const Args&) { return is_integer(v); };
    t["float"] = [](const Value& v, const Args&) { return v.is_float(); };
    t["number"] = [](const Value& v, const Args&) { return v.is_number(); };
    t["string"] = [](const Value& v, const Args&) { return v.is_string(); };
    t["mapping"] = [](const Value& v, const Args&) { return v.kind() == Value::Kind::Dict; };
    t["sequence"] = [](const Value& v, const Args&) {
      return v.is_string() || v.is_list() || v.kind() == Value::Kind::Dict;
    };
    t["iterable"] = [](const Value& v, const Args&) {
      return v.is_string() || v.is_list() || v.kind() == Value::Kind::Dict || v.is_undefined();
    };
    t["callable"] = [](const Value& v, const Args&) { return v.is_callable(); };
    t["sameas"] = [](const Value& v, const Args& a) {
      const Value& other = operand(a, "sameas");
      if (v.kind() != other.kind()) {
        return false;
      }
      if (v.is_none() || v.is_bool()) {
        return v == other;
      }
      return (v.is_list() && &v.as_list() == &other.as_list()) || (v.is_dict() && &v.as_dict() == &other.as_dict());
    };
    t["escaped"] = [](const Value&, const Args&) { return false; };
    t["odd"] = [](const Value& v, const Args&) {
      if (!v.is_int() && !v.is_bool()) throw EvalError("odd test needs an integer");
      return (v.is_bool() ? int64_t{v.as_bool()} : v.as_int()) % 2 != 0;
    };
    t["even"] = [](const Value& v, const Args&) {
      if (!v.is_int() && !v.is_bool()) throw EvalError("even test needs an integer");
      return (v.is_bool() ? int64_t{v.as_bool()} : v.as_int()) % 2 == 0;
    };
    t["divisibleby"] = [](const Value& v, const Args& a) {
      const Value& d = operand(a, "divisibleby");
      Value remainder = binary_op("%", v, d);
      return remainder == Value(0);
    };
    t["in"] = [](const Value& v, const Args& a) { return contains(operand(a, "in"), v); };
    t["eq"] = t["equalto"] = t["=="] = [](const Value& v, const Args& a) { return v == operand(a, "eq"); };
    t["ne"] = t["!="] = [](const Value& v, const Args& a) { return !(v == operand(a, "ne")); };
    t["lt"] = t["lessthan"] = t["<"] = [](const Value& v, const Args& a) { return less_than(v, operand(a, "lt")); };
    t["le"] = t["<="] = [](const Value& v, const Args& a) { return !less_than(operand(a, "le"), v); };
    t["gt"] = t["greaterthan"] = t[">"] = [](const Value& v, const Args& a) { return less_than(operand(a, "gt"), v); };
    t["ge"] = t[">="] = [](const Value& v, const Args& a) { return !less_than(v, operand(a, "ge")); };
    t["lower"] = [](const Value& v, const Args&) {
      return v.is_string() && to_lower(v.as_string()) == v.as_string() && to_upper(v.as_string()) != v.as_string();
    };
    t["upper"] = [](const Value& v, const Args&) {
      return v.is_string() && to_upper(v.as_string()) == v.as_string() && to_lower(v.as_string()) != v.as_string();
    };
    return t;
  }();
  return table;
}

}  // namespace

bool has_test(std::string_view name) {
  return tests().count(name) > 0;
}

bool apply_test(Renderer&, std::string_view name, const Value& subject, Args& args) {
  const auto& table = tests();
  auto it = table.find(name);
  if (it == table.end()) {
    throw EvalError("no test named '" + std::string(name) + "'");
  }
  return it->second(subject, args);
}

}  // namespace tessera::jinja
