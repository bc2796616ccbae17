// Python semantics of attribute and item access, slicing, arithmetic, membership and ordering,
// with Jinja's rules for undefined values.
#include "lm/template/runtime.h"
#include "lm/template/strings.h"
#include "lm/template/utf8.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace tessera::jinja {

namespace {

// Jinja's object_type_repr: "dict object", "None", ...
std::string object_description(const Value& value) {
  if (value.is_none()) {
    return "None";
  }
  return value.type_name() + " object";
}

[[noreturn]] void unsupported(std::string_view op, const Value& lhs, const Value& rhs) {
  throw EvalError("unsupported operand type(s) for " + std::string(op) + ": '" + lhs.type_name() + "' and '" +
                  rhs.type_name() + "'");
}

int64_t integer_of(const Value& v) {
  return v.is_bool() ? int64_t{v.as_bool()} : v.as_int();
}
bool is_integral(const Value& v) {
  return v.is_int() || v.is_bool();
}

// Python ints are unbounded; ours are 64-bit, so overflow is an error rather than a wrong result.
template <typename Op>
int64_t checked(int64_t a, int64_t b, Op op) {
  int64_t result = 0;
  if (op(a, b, &result)) {
    throw EvalError("integer result does not fit in 64 bits");
  }
  return result;
}
int64_t add(int64_t a, int64_t b) {
  return checked(a, b, [](int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); });
}
int64_t subtract(int64_t a, int64_t b) {
  return checked(a, b, [](int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); });
}
int64_t multiply(int64_t a, int64_t b) {
  return checked(a, b, [](int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); });
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) {
    --q;
  }
  return q;
}

Value repeat(const Value& sequence, int64_t times) {
  times = std::max<int64_t>(times, 0);
  constexpr int64_t kMaxElements = int64_t{1} << 28;
  int64_t unit = sequence.is_string() ? static_cast<int64_t>(sequence.as_string().size())
                                      : static_cast<int64_t>(sequence.as_list().size());
  if (unit > 0 && times > kMaxElements / unit) {
    throw EvalError("repetition result too large");
  }
  if (sequence.is_string()) {
    std::string out;
    out.reserve(sequence.as_string().size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) {
      out += sequence.as_string();
    }
    return Value(std::move(out));
  }
  List out;
  for (int64_t i = 0; i < times; ++i) {
    out.insert(out.end(), sequence.as_list().begin(), sequence.as_list().end());
  }
  return sequence.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value(std::move(out));
}

// Normalizes Python slice bounds for a sequence of `size` elements.
struct SliceRange {
  int64_t start, stop, step;
};

SliceRange slice_range(int64_t size, const Value& start, const Value& stop, const Value& step) {
  auto integer_or_none = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) {
      return std::nullopt;
    }
    if (!is_integral(v)) {
      throw EvalError(std::string("slice ") + what + " must be an integer or None");
    }
    return integer_of(v);
  };
  int64_t st = integer_or_none(step, "step").value_or(1);
  if (st == 0) {
    throw EvalError("slice step cannot be zero");
  }
  auto clamp = [&](std::optional<int64_t> bound, int64_t fallback) {
    if (!bound) {
      return fallback;
    }
    int64_t b = *bound;
    if (b < 0) {
      b += size;
      if (b < 0) {
        b = st < 0 ? -1 : 0;
      }
    } else if (b >= size) {
      b = st < 0 ? size - 1 : size;
    }
    return b;
  };
  int64_t from = clamp(integer_or_none(start, "indices"), st < 0 ? size - 1 : 0);
  int64_t to = clamp(integer_or_none(stop, "indices"), st < 0 ? -1 : size);
  return {from, to, st};
}

}  // namespace

void fail_undefined(const Value& value) {
  const std::string& hint = value.undefined_hint();
  throw EvalError(hint.empty() ? "undefined value" : hint);
}

Value get_attribute(const Value& object, std::string_view name) {
  switch (object.kind()) {
    case Value::Kind::Undefined: fail_undefined(object);
    case Value::Kind::Dict:
    case Value::Kind::Namespace: {
      if (object.kind() == Value::Kind::Dict) {
        Value method = method_value(object, name);
        if (!method.is_undefined()) {
          return method;
        }
      }
      if (const Value* found = object.as_dict().find(name)) {
        return *found;
      }
      break;
    }
    case Value::Kind::Object: {
      Value found = object.as_object().attribute(name);
      if (!found.is_undefined()) {
        return found;
      }
      break;
    }
    case Value::Kind::String:
    case Value::Kind::List:
    case Value::Kind::Tuple: {
      Value method = method_value(object, name);
      if (!method.is_undefined()) {
        return method;
      }
      break;
    }
    default: break;
  }
  return Value::undefined(std::string(1, '\'') + object_description(object) + "' has no attribute '" + std::string(name) + "'");
}

Value get_item(const Value& object, const Value& key) {
  switch (object.kind()) {
    case Value::Kind::Undefined: fail_undefined(object);
    case Value::Kind::Dict:
    case Value::Kind::Namespace:
      if (const Value* found = object.as_dict().find(key)) {
        return *found;
      }
      break;
    case Value::Kind::List:
    case Value::Kind::Tuple:
    case Value::Kind::String:
      if (is_integral(key)) {
        int64_t index = integer_of(key);
        if (object.is_string()) {
          const std::string& s = object.as_string();
          if (is_ascii(s)) {
            int64_t size = static_cast<int64_t>(s.size());
            int64_t i = index < 0 ? index + size : index;
            if (i >= 0 && i < size) {
              return Value(std::string(1, s[static_cast<size_t>(i)]));
            }
          } else {
            auto points = code_points(s);
            int64_t size = static_cast<int64_t>(points.size());
            int64_t i = index < 0 ? index + size : index;
            if (i >= 0 && i < size) {
              return Value(points[static_cast<size_t>(i)]);
            }
          }
        } else {
          const List& items = object.as_list();
          int64_t size = static_cast<int64_t>(items.size());
          int64_t i = index < 0 ? index + size : index;
          if (i >= 0 && i < size) {
            return items[static_cast<size_t>(i)];
          }
        }
      }
      break;
    case Value::Kind::Object:
      if (key.is_string()) {
        return get_attribute(object, key.as_string());
      }
      break;
    default: break;
  }
  if (key.is_string()) {
    if (!object.is_dict()) {
      Value attribute = get_attribute(object, key.as_string());
      if (!attribute.is_undefined()) {
        return attribute;
      }
    }
    return Value::undefined(std::string(1, '\'') + object_description(object) + "' has no attribute '" + key.as_string() + "'");
  }
  return Value::undefined(object_description(object) + " has no element " + key.repr());
}

Value slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is_undefined()) {
    fail_undefined(object);
  }
  if (object.is_string()) {
    auto points = code_points(object.as_string());
    SliceRange r = slice_range(static_cast<int64_t>(points.size()), start, stop, step);
    std::string out;
    for (int64_t i = r.start; r.step > 0 ? i < r.stop : i > r.stop; i += r.step) {
      out += points[static_cast<size_t>(i)];
    }
    return Value(std::move(out));
  }
  if (!object.is_list()) {
    throw EvalError("'" + object.type_name() + "' object is not subscriptable");
  }
  const List& items = object.as_list();
  SliceRange r = slice_range(static_cast<int64_t>(items.size()), start, stop, step);
  List out;
  for (int64_t i = r.start; r.step > 0 ? i < r.stop : i > r.stop; i += r.step) {
    out.push_back(items[static_cast<size_t>(i)]);
  }
  return object.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value(std::move(out));
}

Value binary_op(std::string_view op, const Value& lhs, const Value& rhs) {
  if (op == "~") {
    return Value(lhs.str() + rhs.str());
  }
  if (lhs.is_undefined()) {
    fail_undefined(lhs);
  }
  if (rhs.is_undefined()) {
    fail_undefined(rhs);
  }
  const bool numbers = lhs.is_number() && rhs.is_number();
  const bool integers = is_integral(lhs) && is_integral(rhs);
  if (op == "+") {
    if (integers) {
      return Value(add(integer_of(lhs), integer_of(rhs)));
    }
    if (numbers) {
      return Value(lhs.to_double() + rhs.to_double());
    }
    if (lhs.is_string() && rhs.is_string()) {
      return Value(lhs.as_string() + rhs.as_string());
    }
    if (lhs.is_list() && rhs.kind() == lhs.kind()) {
      List out = lhs.as_list();
      out.insert(out.end(), rhs.as_list().begin(), rhs.as_list().end());
      return lhs.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value(std::move(out));
    }
    if (lhs.is_string()) {
      throw EvalError("can only concatenate str (not \"" + rhs.type_name() + "\") to str");
    }
    if (lhs.is_list()) {
      throw EvalError("can only concatenate " + lhs.type_name() + " (not \"" + rhs.type_name() + "\") to " +
                      lhs.type_name());
    }
    unsupported(op, lhs, rhs);
  }
  if (op == "*") {
    if (integers) {
      return Value(multiply(integer_of(lhs), integer_of(rhs)));
    }
    if (numbers) {
      return Value(lhs.to_double() * rhs.to_double());
    }
    if ((lhs.is_string() || lhs.is_list()) && is_integral(rhs)) {
      return repeat(lhs, integer_of(rhs));
    }
    if ((rhs.is_string() || rhs.is_list()) && is_integral(lhs)) {
      return repeat(rhs, integer_of(lhs));
    }
    unsupported(op, lhs, rhs);
  }
  if (!numbers) {
    if (op == "%" && lhs.is_string()) {
      if (rhs.kind() == Value::Kind::Tuple) {
        return Value(printf_format(lhs.as_string(), rhs.as_list(), nullptr));
      }
      return Value(printf_format(lhs.as_string(), List{rhs}, rhs.kind() == Value::Kind::Dict ? &rhs : nullptr));
    }
    unsupported(op, lhs, rhs);
  }
  if (op == "-") {
    if (integers) {
      return Value(subtract(integer_of(lhs), integer_of(rhs)));
    }
    return Value(lhs.to_double() - rhs.to_double());
  }
  if (op == "**") {
    if (integers && integer_of(rhs) >= 0) {
      int64_t base = integer_of(lhs), result = 1;
      for (int64_t e = integer_of(rhs); e > 0; --e) {
        result = multiply(result, base);
      }
      return Value(result);
    }
    return Value(std::pow(lhs.to_double(), rhs.to_double()));
  }
  if (rhs.to_double() == 0.0) {
    throw EvalError(op == "/" ? "division by zero" : op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
  }
  if (op == "/") {
    return Value(lhs.to_double() / rhs.to_double());
  }
  if (op == "//") {
    if (integers) {
      return Value(floor_div(integer_of(lhs), integer_of(rhs)));
    }
    return Value(std::floor(lhs.to_double() / rhs.to_double()));
  }
  if (op == "%") {
    if (integers) {
      int64_t a = integer_of(lhs), b = integer_of(rhs);
      return Value(a - floor_div(a, b) * b);
    }
    double a = lhs.to_double(), b = rhs.to_double();
    double m = std::fmod(a, b);
    if (m != 0.0 && ((m < 0) != (b < 0))) {
      m += b;
    }
    return Value(m);
  }
  throw EvalError("unknown operator " + std::string(op));
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;
    case Value::Kind::String:
      if (!item.is_string()) {
        throw EvalError("'in <string>' requires string as left operand, not " + item.type_name());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::List:
    case Value::Kind::Tuple:
      return std::find(container.as_list().begin(), container.as_list().end(), item) != container.as_list().end();
    case Value::Kind::Dict: return container.as_dict().find(item) != nullptr;
    default: throw EvalError("argument of type '" + container.type_name() + "' is not iterable");
  }
}

bool less_than(const Value& lhs, const Value& rhs) {
  if (lhs.is_undefined()) {
    fail_undefined(lhs);
  }
  if (rhs.is_undefined()) {
    fail_undefined(rhs);
  }
  if (lhs.is_number() && rhs.is_number()) {
    if (is_integral(lhs) && is_integral(rhs)) {
      return integer_of(lhs) < integer_of(rhs);
    }
    return lhs.to_double() < rhs.to_double();
  }
  if (lhs.is_string() && rhs.is_string()) {
    return lhs.as_string() < rhs.as_string();
  }
  if (lhs.is_list() && rhs.kind() == lhs.kind()) {
    const List& a = lhs.as_list();
    const List& b = rhs.as_list();
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!(a[i] == b[i])) {
        return less_than(a[i], b[i]);
      }
    }
    return a.size() < b.size();
  }
  throw EvalError("'<' not supported between instances of '" + lhs.type_name() + "' and '" + rhs.type_name() + "'");
}

List iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List:
    case Value::Kind::Tuple: return value.as_list();
    case Value::Kind::Dict: {
      List keys;
      keys.reserve(value.as_dict().items.size());
      for (const auto& item : value.as_dict().items) {
        keys.push_back(item.first);
      }
      return keys;
    }
    case Value::Kind::String: {
      List chars;
      for (std::string_view cp : code_points(value.as_string())) {
        chars.emplace_back(cp);
      }
      return chars;
    }
    default: throw EvalError("'" + value.type_name() + "' object is not iterable");
  }
}

int64_t length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(code_point_count(value.as_string()));
    case Value::Kind::List:
    case Value::Kind::Tuple: return static_cast<int64_t>(value.as_list().size());
    case Value::Kind::Dict: return static_cast<int64_t>(value.as_dict().items.size());
    default: throw EvalError("object of type '" + value.type_name() + "' has no len()");
  }
}

}  // namespace tessera::jinja
