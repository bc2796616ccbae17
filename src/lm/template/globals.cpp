// The global functions of transformers' chat-template environment.
#include "lm/template/runtime.h"

#include <ctime>
#include <unordered_map>

namespace tessera::jinja {

namespace {

int64_t integer_argument(const Value& v, std::string_view function) {
  if (v.is_int()) {
    return v.as_int();
  }
  if (v.is_bool()) {
    return v.as_bool();
  }
  throw EvalError("'" + v.type_name() + "' object cannot be interpreted as an integer in " + std::string(function));
}

Value range(Renderer&, Args& args) {
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) {
    throw EvalError("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  }
  int64_t start = p.size() == 1 ? 0 : integer_argument(p[0], "range");
  int64_t stop = integer_argument(p.size() == 1 ? p[0] : p[1], "range");
  int64_t step = p.size() == 3 ? integer_argument(p[2], "range") : 1;
  if (step == 0) {
    throw EvalError("range() arg 3 must not be zero");
  }
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    out.emplace_back(i);
    if (out.size() > 10'000'000) {
      throw EvalError("range too big");
    }
  }
  return Value(std::move(out));
}

Value make_dict(Renderer&, Args& args) {
  Value dict = Value::dict();
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict.as_dict().items = source.as_dict().items;
    } else {
      for (const Value& pair : iterate(source)) {
        List kv = iterate(pair);
        if (kv.size() != 2) {
          throw EvalError("dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        }
        dict.as_dict().set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) {
    dict.as_dict().set(Value(key), value);
  }
  return dict;
}

Value make_namespace(Renderer& renderer, Args& args) {
  Value ns = Value::namespace_object();
  ns.as_dict().items = make_dict(renderer, args).as_dict().items;
  return ns;
}

Value raise_exception(Renderer&, Args& args) {
  throw RaisedError(args.positional.empty() ? std::string() : args.positional[0].str());
}

Value strftime_now(Renderer&, Args& args) {
  if (args.positional.empty() || !args.positional[0].is_string()) {
    throw EvalError("strftime_now expects a format string");
  }
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[512];
  size_t n = std::strftime(buffer, sizeof(buffer), args.positional[0].as_string().c_str(), &local);
  return Value(std::string(buffer, n));
}

Value function(std::string name, Value (*f)(Renderer&, Args&)) {
  return Value(std::make_shared<Callable>(Callable{std::move(name), f}));
}

}  // namespace

const Value* find_global(std::string_view name) {
  static const std::unordered_map<std::string_view, Value> globals = {
      {"range", function("range", range)},
      {"dict", function("dict", make_dict)},
      {"namespace", function("namespace", make_namespace)},
      {"raise_exception", function("raise_exception", raise_exception)},
      {"strftime_now", function("strftime_now", strftime_now)},
  };
  auto it = globals.find(name);
  return it == globals.end() ? nullptr : &it->second;
}

}  // namespace tessera::jinja
