// The Python str, list and dict methods that chat templates call.
#include "lm/template/runtime.h"
#include "lm/template/strings.h"
#include "lm/template/utf8.h"

#include <algorithm>
#include <array>

namespace tessera::jinja {

namespace {

constexpr std::array<std::string_view, 26> kStringMethods = {
    "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "upper",
    "lower", "title", "capitalize", "replace", "find", "rfind", "count", "join", "format", "isdigit",
    "isalpha", "isalnum", "isspace", "isupper", "islower", "index", "swapcase"};
constexpr std::array<std::string_view, 8> kListMethods = {"append", "pop", "index", "count", "insert", "extend",
                                                          "reverse", "copy"};
constexpr std::array<std::string_view, 9> kDictMethods = {"items", "keys", "values", "get", "pop", "update",
                                                          "setdefault", "copy", "clear"};

template <size_t N>
bool in(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const Value& require(const Args& args, size_t index, std::string_view method) {
  if (index >= args.positional.size()) {
    throw EvalError(std::string(method) + "() missing required argument " + std::to_string(index + 1));
  }
  return args.positional[index];
}

std::optional<std::string> optional_string(const Args& args, size_t index, std::string_view method) {
  if (index >= args.positional.size() || args.positional[index].is_none()) {
    return std::nullopt;
  }
  if (!args.positional[index].is_string()) {
    throw EvalError(std::string(method) + "() argument must be str or None, not " +
                    args.positional[index].type_name());
  }
  return args.positional[index].as_string();
}

const std::string& string_argument(const Args& args, size_t index, std::string_view method) {
  const Value& v = require(args, index, method);
  if (!v.is_string()) {
    throw EvalError(std::string(method) + "() argument must be str, not " + v.type_name());
  }
  return v.as_string();
}

int64_t int_argument(const Args& args, size_t index, std::string_view name, int64_t fallback) {
  const Value* v = args.get(index, name);
  if (!v) {
    return fallback;
  }
  if (!v->is_int() && !v->is_bool()) {
    throw EvalError("'" + v->type_name() + "' object cannot be interpreted as an integer");
  }
  return v->is_bool() ? int64_t{v->as_bool()} : v->as_int();
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) {
      throw EvalError(std::string(prefix ? "startswith" : "endswith") + " first arg must be str or a tuple of str");
    }
    const std::string& t = a.as_string();
    return t.size() <= s.size() && (prefix ? s.compare(0, t.size(), t) == 0 : s.compare(s.size() - t.size(), t.size(), t) == 0);
  };
  if (affix.is_list()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(), one);
  }
  return one(affix);
}

Value string_list(const std::vector<std::string>& parts) {
  List out;
  out.reserve(parts.size());
  for (const auto& p : parts) {
    out.emplace_back(p);
  }
  return Value(std::move(out));
}

template <typename Predicate>
bool all_code_points(const std::string& s, Predicate predicate) {
  if (s.empty()) {
    return false;
  }
  for (std::string_view cp : code_points(s)) {
    if (!predicate(decode_utf8(cp))) {
      return false;
    }
  }
  return true;
}

Value string_method(const std::string& s, std::string_view name, Args& args) {
  if (name == "startswith" || name == "endswith") {
    return Value(affix_matches(s, require(args, 0, name), name == "startswith"));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    StripSide side = name == "strip" ? StripSide::Both : name == "lstrip" ? StripSide::Left : StripSide::Right;
    return Value(strip(s, optional_string(args, 0, name), side));
  }
  if (name == "split" || name == "rsplit") {
    std::optional<std::string> sep;
    if (const Value* v = args.get(0, "sep"); v && !v->is_none()) {
      if (!v->is_string()) {
        throw EvalError("must be str or None, not " + v->type_name());
      }
      sep = v->as_string();
    }
    return string_list(split(s, sep, int_argument(args, 1, "maxsplit", -1), name == "rsplit"));
  }
  if (name == "splitlines") {
    return string_list(splitlines(s));
  }
  if (name == "upper") return Value(to_upper(s));
  if (name == "lower") return Value(to_lower(s));
  if (name == "title") return Value(python_title(s));
  if (name == "capitalize") return Value(capitalize(s));
  if (name == "swapcase") {
    std::string out;
    for (std::string_view cp : code_points(s)) {
      std::string upper = to_upper(cp);
      out += upper == cp ? to_lower(cp) : upper;
    }
    return Value(std::move(out));
  }
  if (name == "replace") {
    return Value(replace(s, string_argument(args, 0, name), string_argument(args, 1, name),
                         int_argument(args, 2, "count", -1)));
  }
  if (name == "find" || name == "rfind" || name == "index") {
    int64_t at = find_index(s, string_argument(args, 0, name), name == "rfind");
    if (at < 0 && name == "index") {
      throw EvalError("substring not found");
    }
    return Value(at);
  }
  if (name == "count") {
    return Value(count_occurrences(s, string_argument(args, 0, name)));
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& item : iterate(require(args, 0, name))) {
      if (!item.is_string()) {
        throw EvalError("sequence item: expected str instance, " + item.type_name() + " found");
      }
      out += (first ? "" : s) + item.as_string();
      first = false;
    }
    return Value(std::move(out));
  }
  if (name == "format") {
    return Value(format(s, args));
  }
  if (name == "isdigit") return Value(all_code_points(s, [](uint32_t c) { return c >= '0' && c <= '9'; }));
  if (name == "isspace") return Value(all_code_points(s, is_python_space));
  if (name == "isalpha" || name == "isalnum") {
    bool alnum = name == "isalnum";
    return Value(all_code_points(s, [alnum](uint32_t c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (alnum && c >= '0' && c <= '9') || c >= 0x80;
    }));
  }
  if (name == "isupper") return Value(to_upper(s) == s && to_lower(s) != s);
  if (name == "islower") return Value(to_lower(s) == s && to_upper(s) != s);
  throw EvalError("'str' object has no attribute '" + std::string(name) + "'");
}

Value list_method(const Value& object, std::string_view name, Args& args) {
  List& items = object.as_list();
  const bool tuple = object.kind() == Value::Kind::Tuple;
  if (name == "index" || name == "count") {
    const Value& needle = require(args, 0, name);
    if (name == "count") {
      return Value(static_cast<int64_t>(std::count(items.begin(), items.end(), needle)));
    }
    auto it = std::find(items.begin(), items.end(), needle);
    if (it == items.end()) {
      throw EvalError(needle.repr() + " is not in list");
    }
    return Value(static_cast<int64_t>(it - items.begin()));
  }
  if (tuple) {
    throw EvalError("'tuple' object has no attribute '" + std::string(name) + "'");
  }
  if (name == "append") {
    items.push_back(require(args, 0, name));
    return Value::none();
  }
  if (name == "extend") {
    List more = iterate(require(args, 0, name));
    items.insert(items.end(), more.begin(), more.end());
    return Value::none();
  }
  if (name == "insert") {
    int64_t size = static_cast<int64_t>(items.size());
    int64_t at = int_argument(args, 0, "index", 0);
    at = std::clamp(at < 0 ? at + size : at, int64_t{0}, size);
    items.insert(items.begin() + at, require(args, 1, name));
    return Value::none();
  }
  if (name == "pop") {
    if (items.empty()) {
      throw EvalError("pop from empty list");
    }
    int64_t size = static_cast<int64_t>(items.size());
    int64_t at = int_argument(args, 0, "index", -1);
    if (at < 0) {
      at += size;
    }
    if (at < 0 || at >= size) {
      throw EvalError("pop index out of range");
    }
    Value popped = items[static_cast<size_t>(at)];
    items.erase(items.begin() + at);
    return popped;
  }
  if (name == "reverse") {
    std::reverse(items.begin(), items.end());
    return Value::none();
  }
  return Value(List(items));
}

Value dict_method(const Value& object, std::string_view name, Args& args) {
  Dict& dict = object.as_dict();
  if (name == "items" || name == "keys" || name == "values") {
    List out;
    out.reserve(dict.items.size());
    for (const auto& [key, value] : dict.items) {
      out.push_back(name == "items" ? Value::tuple({key, value}) : name == "keys" ? key : value);
    }
    return Value(std::move(out));
  }
  if (name == "get") {
    const Value* found = dict.find(require(args, 0, name));
    if (found) {
      return *found;
    }
    const Value* fallback = args.get(1, "default");
    return fallback ? *fallback : Value::none();
  }
  if (name == "pop") {
    const Value& key = require(args, 0, name);
    for (auto it = dict.items.begin(); it != dict.items.end(); ++it) {
      if (it->first == key) {
        Value popped = it->second;
        dict.items.erase(it);
        return popped;
      }
    }
    if (args.positional.size() > 1) {
      return args.positional[1];
    }
    throw EvalError("KeyError: " + key.repr());
  }
  if (name == "setdefault") {
    const Value& key = require(args, 0, name);
    if (const Value* found = dict.find(key)) {
      return *found;
    }
    Value fallback = args.positional.size() > 1 ? args.positional[1] : Value::none();
    dict.set(key, fallback);
    return fallback;
  }
  if (name == "update") {
    if (!args.positional.empty()) {
      const Value& other = args.positional[0];
      if (!other.is_dict()) {
        throw EvalError("dict.update() argument must be a dict");
      }
      for (const auto& [key, value] : other.as_dict().items) {
        dict.set(key, value);
      }
    }
    for (const auto& [key, value] : args.keyword) {
      dict.set(Value(key), value);
    }
    return Value::none();
  }
  if (name == "clear") {
    dict.items.clear();
    return Value::none();
  }
  Value copy = Value::dict();
  copy.as_dict().items = dict.items;
  return copy;
}

}  // namespace

Value call_method(const Value& object, std::string_view name, Args& args, bool& found) {
  found = true;
  if (object.is_string() && in(kStringMethods, name)) {
    return string_method(object.as_string(), name, args);
  }
  if (object.is_list() && in(kListMethods, name)) {
    return list_method(object, name, args);
  }
  if (object.kind() == Value::Kind::Dict && in(kDictMethods, name)) {
    return dict_method(object, name, args);
  }
  found = false;
  return Value();
}

Value method_value(const Value& object, std::string_view name) {
  bool known = (object.is_string() && in(kStringMethods, name)) || (object.is_list() && in(kListMethods, name)) ||
               (object.kind() == Value::Kind::Dict && in(kDictMethods, name));
  if (!known) {
    return Value();
  }
  std::string method(name);
  return Value(std::make_shared<Callable>(Callable{method, [object, method](Renderer&, Args& args) {
    bool found = false;
    return call_method(object, method, args, found);
  }}));
}

}  // namespace tessera::jinja
