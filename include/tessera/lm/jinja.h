// A Jinja2 template engine that renders byte-identically to Python Jinja2 3.1 configured as
// Hugging Face transformers configures it for chat templates: trim_blocks, lstrip_blocks and
// loop controls, no autoescaping.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tessera::jinja {

// Syntax errors name the line and column; runtime errors name the line.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by the template global raise_exception(msg); what() is exactly msg.
class RaisedError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

class Value;
struct Dict;
struct Callable;
struct Object;
using List = std::vector<Value>;

// A dynamically typed template value with Python semantics. Lists and dicts have reference
// semantics (copies share storage), as in Python, so that methods like list.append mutate.
class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable, Object };

  Value() : kind_(Kind::Undefined) {}
  static Value undefined(std::string hint) { return Value(Kind::Undefined, std::move(hint)); }
  static Value none() { return Value(Kind::None, std::monostate{}); }
  Value(bool b) : kind_(Kind::Bool), data_(b) {}
  Value(int i) : kind_(Kind::Int), data_(int64_t{i}) {}
  Value(int64_t i) : kind_(Kind::Int), data_(i) {}
  Value(double d) : kind_(Kind::Float), data_(d) {}
  Value(std::string s) : kind_(Kind::String), data_(std::move(s)) {}
  Value(std::string_view s) : kind_(Kind::String), data_(std::string(s)) {}
  Value(const char* s) : kind_(Kind::String), data_(std::string(s)) {}
  Value(List items);
  static Value tuple(List items);
  static Value dict();
  static Value namespace_object();
  Value(std::shared_ptr<Callable> fn) : kind_(Kind::Callable), data_(std::move(fn)) {}
  Value(std::shared_ptr<Object> object) : kind_(Kind::Object), data_(std::move(object)) {}

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_dict() const { return kind_ == Kind::Dict || kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  List& as_list() const { return *std::get<std::shared_ptr<List>>(data_); }
  Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  Callable& as_callable() const { return *std::get<std::shared_ptr<Callable>>(data_); }
  Object& as_object() const { return *std::get<std::shared_ptr<Object>>(data_); }
  // Why this value is undefined ("'x' is undefined"); empty for a plain undefined.
  const std::string& undefined_hint() const { return std::get<std::string>(data_); }
  // Numeric value of an int, float or bool.
  double to_double() const;

  bool truthy() const;
  // Python str(): what {{ value }} prints.
  std::string str() const;
  // Python repr(), used inside printed containers.
  std::string repr() const;
  // Python type name as Jinja reports it ("dict", "str", "int", ...).
  std::string type_name() const;
  // Python ==.
  bool operator==(const Value& other) const;

 private:
  using Data = std::variant<std::monostate, bool, int64_t, double, std::string, std::shared_ptr<List>,
                            std::shared_ptr<Dict>, std::shared_ptr<Callable>, std::shared_ptr<Object>>;
  template <typename T>
  Value(Kind kind, T&& data) : kind_(kind), data_(std::forward<T>(data)) {}

  Kind kind_;
  Data data_;
};

// An insertion-ordered mapping. Lookups are linear: template dicts are small.
struct Dict {
  std::vector<std::pair<Value, Value>> items;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

// Object keys keep their order with ordered_json (as Python dicts do); nlohmann::json sorts them.
Value from_json(const nlohmann::ordered_json& json);
Value from_json(const nlohmann::json& json);

// Python json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys) with the
// default separators (", " and ": ", or "," and ": " when indented; indent < 0 = no indent).
std::string to_json(const Value& value, int indent = -1, bool sort_keys = false, bool ensure_ascii = false);

struct Node;

// A parsed template. Parsing happens once, in the constructor; render() can be called many
// times (also concurrently: rendering does not modify the template).
class Template {
 public:
  explicit Template(std::string_view source);
  // `variables` maps names to values; it must be a dict.
  std::string render(const Value& variables) const;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace tessera::jinja
