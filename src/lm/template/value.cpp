// Value: construction, truthiness, equality and Python's str()/repr() text.
#include "lm/template/runtime.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tessera::jinja {

Value::Value(List items) : kind_(Kind::List), data_(std::make_shared<List>(std::move(items))) {}

Value Value::tuple(List items) {
  return Value(Kind::Tuple, std::make_shared<List>(std::move(items)));
}
Value Value::dict() {
  return Value(Kind::Dict, std::make_shared<Dict>());
}
Value Value::namespace_object() {
  return Value(Kind::Namespace, std::make_shared<Dict>());
}

double Value::to_double() const {
  switch (kind_) {
    case Kind::Bool: return as_bool() ? 1.0 : 0.0;
    case Kind::Int: return static_cast<double>(as_int());
    case Kind::Float: return as_float();
    default: throw EvalError("expected a number, got " + type_name());
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_float() != 0.0;
    case Kind::String: return !as_string().empty();
    case Kind::List:
    case Kind::Tuple: return !as_list().empty();
    case Kind::Dict: return !as_dict().items.empty();
    case Kind::Namespace:
    case Kind::Callable:
    case Kind::Object: return true;
  }
  return false;
}

std::string python_float(double value) {
  if (std::isnan(value)) {
    return "nan";
  }
  if (std::isinf(value)) {
    return value > 0 ? "inf" : "-inf";
  }
  // Shortest round-trip digits, laid out as Python's repr does: positional notation for
  // exponents in [-4, 16), scientific otherwise.
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  size_t e = sci.find('e');
  int exponent = std::stoi(sci.substr(e + 1));
  std::string mantissa = sci.substr(0, e);
  bool negative = mantissa[0] == '-';
  if (negative) {
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') {
      digits += c;
    }
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent) + 1) + "." + digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_text;
}

std::string python_repr_string(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::Undefined: return "";
    case Kind::String: return as_string();
    default: return repr();
  }
}

namespace {

// Containers can hold themselves (list.append); Python prints [...] there. We stop where
// Python's recursion limit would, rather than recurse without bound.
constexpr int kMaxReprDepth = 900;

std::string repr_at(const Value& value, int depth) {
  if (depth > kMaxReprDepth) {
    throw EvalError("value nested too deeply to print");
  }
  switch (value.kind()) {
    case Value::Kind::List:
    case Value::Kind::Tuple: {
      bool tuple = value.kind() == Value::Kind::Tuple;
      std::string out = tuple ? "(" : "[";
      const List& items = value.as_list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) {
          out += ", ";
        }
        out += repr_at(items[i], depth + 1);
      }
      if (tuple && items.size() == 1) {
        out += ",";
      }
      return out + (tuple ? ")" : "]");
    }
    case Value::Kind::Dict:
    case Value::Kind::Namespace: {
      bool ns = value.kind() == Value::Kind::Namespace;
      std::string out = ns ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [key, item] : value.as_dict().items) {
        if (!first) {
          out += ", ";
        }
        out += repr_at(key, depth + 1);
        out += ": ";
        out += repr_at(item, depth + 1);
        first = false;
      }
      return out + (ns ? "}>" : "}");
    }
    default: return value.repr();
  }
}

}  // namespace

std::string Value::repr() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "None";
    case Kind::Bool: return as_bool() ? "True" : "False";
    case Kind::Int: return std::to_string(as_int());
    case Kind::Float: return python_float(as_float());
    case Kind::String: return python_repr_string(as_string());
    case Kind::List:
    case Kind::Tuple:
    case Kind::Dict:
    case Kind::Namespace: return repr_at(*this, 0);
    case Kind::Callable: return "<function " + as_callable().name + ">";
    case Kind::Object: return std::string(1, '<').append(as_object().type_name()).append(" object>");
  }
  return "";
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
    case Kind::Object: return as_object().type_name();
  }
  return "object";
}

bool Value::operator==(const Value& other) const {
  if (is_number() && other.is_number()) {
    if (kind_ == Kind::Float || other.kind_ == Kind::Float) {
      return to_double() == other.to_double();
    }
    auto as_integer = [](const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); };
    return as_integer(*this) == as_integer(other);
  }
  if (kind_ != other.kind_) {
    return false;
  }
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return as_string() == other.as_string();
    case Kind::List:
    case Kind::Tuple: return as_list() == other.as_list();
    case Kind::Dict: {
      const Dict& a = as_dict();
      const Dict& b = other.as_dict();
      if (a.items.size() != b.items.size()) {
        return false;
      }
      for (const auto& [key, value] : a.items) {
        const Value* found = b.find(key);
        if (!found || !(*found == value)) {
          return false;
        }
      }
      return true;
    }
    case Kind::Namespace: return &as_dict() == &other.as_dict();
    case Kind::Callable: return &as_callable() == &other.as_callable();
    case Kind::Object: return &as_object() == &other.as_object();
    default: return false;
  }
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) {
    return find(std::string_view(key.as_string()));
  }
  for (const auto& [k, v] : items) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.as_string() == key) {
      return &v;
    }
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  if (const Value* existing = find(key)) {
    *const_cast<Value*>(existing) = std::move(value);
    return;
  }
  items.emplace_back(std::move(key), std::move(value));
}

const Value* Args::get(size_t index, std::string_view name) const {
  if (index < positional.size()) {
    return &positional[index];
  }
  for (const auto& [key, value] : keyword) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

const Value* Scope::find(std::string_view name) const {
  for (const auto& [key, value] : variables) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

void Scope::set(std::string_view name, Value value) {
  for (auto& [key, existing] : variables) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  variables.emplace_back(std::string(name), std::move(value));
}

}  // namespace tessera::jinja
