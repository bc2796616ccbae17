// What rendering needs beyond Value: call arguments, callables, scopes, and the render state.
#pragma once

#include "tessera/lm/jinja.h"

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::jinja {

class Renderer;

// A runtime failure without position; the statement being rendered adds its line.
class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Jinja's UndefinedError text for using `value` in a way that needs it to be defined.
[[noreturn]] void fail_undefined(const Value& value);

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at `index` or named `name`; nullptr if neither was passed.
  const Value* get(size_t index, std::string_view name) const;
  size_t size() const { return positional.size() + keyword.size(); }
};

struct Callable {
  std::string name;
  std::function<Value(Renderer&, Args&)> call;
};

// Values with computed attributes (the `loop` variable).
struct Object {
  virtual ~Object() = default;
  virtual Value attribute(std::string_view name) const = 0;
  virtual std::string type_name() const = 0;
};

struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> variables;

  const Value* find(std::string_view name) const;
  void set(std::string_view name, Value value);
};

class Renderer {
 public:
  enum class Flow { Normal, Break, Continue };

  Renderer(const Value& variables, std::string& out);
  // Macros hold their defining scope, and that scope holds the macros: clearing the scopes
  // recorded in `closures` when rendering ends breaks those reference cycles.
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Scopes innermost first, then the render variables, then the globals.
  Value lookup(std::string_view name) const;
  void assign(std::string_view name, Value value) { scope->set(name, std::move(value)); }

  std::shared_ptr<Scope> scope;
  std::string* out;
  Flow flow = Flow::Normal;
  int call_depth = 0;  // nested macro calls, bounded to turn runaway recursion into an error
  std::vector<std::shared_ptr<Scope>> closures;

 private:
  const Value& variables_;
};

// The globals of transformers' chat-template environment (range, dict, namespace,
// raise_exception, strftime_now); nullptr if `name` is none of them.
const Value* find_global(std::string_view name);

Value apply_filter(Renderer& renderer, std::string_view name, const Value& subject, Args& args);
bool apply_test(Renderer& renderer, std::string_view name, const Value& subject, Args& args);
bool has_test(std::string_view name);
bool has_filter(std::string_view name);
// `object.name(args)` for the str, list and dict methods templates use; sets `found` to false
// when the object has no such method.
Value call_method(const Value& object, std::string_view name, Args& args, bool& found);
// A bound method value for `object.name` (so it can be stored and called later), or undefined.
Value method_value(const Value& object, std::string_view name);

// Python semantics shared by the evaluator and the filters.
Value get_attribute(const Value& object, std::string_view name);
Value get_item(const Value& object, const Value& key);
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);
Value binary_op(std::string_view op, const Value& lhs, const Value& rhs);
bool contains(const Value& container, const Value& item);
// Python <, raising TypeError-like errors across incomparable types.
bool less_than(const Value& lhs, const Value& rhs);
// The elements a for loop visits (dict keys, string code points, list items).
List iterate(const Value& value);
int64_t length(const Value& value);
std::string python_float(double value);
// json.dumps with explicit separators (its `separators=(item, key)` argument).
std::string to_json(const Value& value, int indent, bool sort_keys, bool ensure_ascii, std::string_view item_separator,
                    std::string_view key_separator);
std::string python_repr_string(std::string_view s);

}  // namespace tessera::jinja
