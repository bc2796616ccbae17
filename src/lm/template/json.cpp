// Conversion between JSON and template values, and Python's json.dumps.
#include "lm/template/runtime.h"
#include "lm/template/utf8.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tessera::jinja {

namespace {

template <typename Json>
Value convert(const Json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = json.template get<uint64_t>();
      // Beyond int64 (Python would keep an exact int): the nearest float is the best we can do.
      return u > static_cast<uint64_t>(INT64_MAX) ? Value(static_cast<double>(u)) : Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(json.template get<double>());
    case nlohmann::json::value_t::string: return Value(json.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) {
        items.push_back(convert(item));
      }
      return Value(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value dict = Value::dict();
      dict.as_dict().items.reserve(json.size());
      for (const auto& [key, item] : json.items()) {
        dict.as_dict().items.emplace_back(Value(key), convert(item));
      }
      return dict;
    }
    default: return Value::none();
  }
}

}  // namespace

Value from_json(const nlohmann::json& json) {
  return convert(json);
}

Value from_json(const nlohmann::ordered_json& json) {
  return convert(json);
}

namespace {

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      case '\b': out += "\\b"; ++i; continue;
      case '\f': out += "\\f"; ++i; continue;
      default: break;
    }
    char hex[16];
    if (c < 0x20) {
      std::snprintf(hex, sizeof(hex), "\\u%04x", c);
      out += hex;
      ++i;
    } else if (c < 0x80 || !ensure_ascii) {
      out += static_cast<char>(c);
      ++i;
    } else {
      size_t n = std::min(utf8_length(c), s.size() - i);
      uint32_t code = decode_utf8(s.substr(i, n));
      if (code >= 0x10000) {
        code -= 0x10000;
        std::snprintf(hex, sizeof(hex), "\\u%04x\\u%04x", 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF));
      } else {
        std::snprintf(hex, sizeof(hex), "\\u%04x", code);
      }
      out += hex;
      i += n;
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) {
    return "NaN";
  }
  if (std::isinf(d)) {
    return d > 0 ? "Infinity" : "-Infinity";
  }
  return python_float(d);
}

std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::String: return key.as_string();
    case Value::Kind::Int: return std::to_string(key.as_int());
    case Value::Kind::Float: return json_float(key.as_float());
    case Value::Kind::Bool: return key.as_bool() ? "true" : "false";
    case Value::Kind::None: return "null";
    default: throw EvalError("keys must be str, int, float, bool or None, not " + key.type_name());
  }
}

struct JsonWriter {
  int indent;
  bool sort_keys;
  bool ensure_ascii;
  std::string item_separator;
  std::string key_separator;
  std::string out;

  void newline(int level) {
    out += '\n';
    out.append(static_cast<size_t>(indent * level), ' ');
  }

  void write(const Value& value, int level) {
    if (level > 900) {
      throw EvalError("Circular reference detected (or a value nested more than 900 deep)");
    }
    switch (value.kind()) {
      case Value::Kind::None: out += "null"; return;
      case Value::Kind::Bool: out += value.as_bool() ? "true" : "false"; return;
      case Value::Kind::Int: out += std::to_string(value.as_int()); return;
      case Value::Kind::Float: out += json_float(value.as_float()); return;
      case Value::Kind::String: append_json_string(out, value.as_string(), ensure_ascii); return;
      case Value::Kind::List:
      case Value::Kind::Tuple: {
        const List& items = value.as_list();
        if (items.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) {
            out += item_separator;
          }
          if (indent >= 0) {
            newline(level + 1);
          }
          write(items[i], level + 1);
        }
        if (indent >= 0) {
          newline(level);
        }
        out += ']';
        return;
      }
      case Value::Kind::Dict: {
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [key, item] : value.as_dict().items) {
          entries.emplace_back(json_key(key), &item);
        }
        if (sort_keys) {
          std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        }
        if (entries.empty()) {
          out += "{}";
          return;
        }
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) {
            out += item_separator;
          }
          if (indent >= 0) {
            newline(level + 1);
          }
          append_json_string(out, entries[i].first, ensure_ascii);
          out += key_separator;
          write(*entries[i].second, level + 1);
        }
        if (indent >= 0) {
          newline(level);
        }
        out += '}';
        return;
      }
      default: throw EvalError("Object of type " + value.type_name() + " is not JSON serializable");
    }
  }
};

}  // namespace

std::string to_json(const Value& value, int indent, bool sort_keys, bool ensure_ascii) {
  return to_json(value, indent, sort_keys, ensure_ascii, indent >= 0 ? "," : ", ", ": ");
}

std::string to_json(const Value& value, int indent, bool sort_keys, bool ensure_ascii, std::string_view item_separator,
                    std::string_view key_separator) {
  JsonWriter writer{indent, sort_keys, ensure_ascii, std::string(item_separator), std::string(key_separator), {}};
  writer.write(value, 0);
  return std::move(writer.out);
}

}  // namespace tessera::jinja
