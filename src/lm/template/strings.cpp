#include "lm/template/strings.h"

#include "lm/template/runtime.h"
#include "lm/template/utf8.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>

namespace tessera::jinja {

bool is_python_space(uint32_t code) {
  return (code >= 0x09 && code <= 0x0D) || (code >= 0x1C && code <= 0x20) || code == 0x85 || code == 0xA0 ||
         code == 0x1680 || (code >= 0x2000 && code <= 0x200A) || code == 0x2028 || code == 0x2029 ||
         code == 0x202F || code == 0x205F || code == 0x3000;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, StripSide side) {
  auto points = code_points(s);
  std::vector<std::string_view> strip_set;
  if (chars) {
    strip_set = code_points(*chars);
  }
  auto strippable = [&](std::string_view cp) {
    if (!chars) {
      return is_python_space(decode_utf8(cp));
    }
    return std::find(strip_set.begin(), strip_set.end(), cp) != strip_set.end();
  };
  size_t begin = 0, end = points.size();
  if (side != StripSide::Right) {
    while (begin < end && strippable(points[begin])) {
      ++begin;
    }
  }
  if (side != StripSide::Left) {
    while (end > begin && strippable(points[end - 1])) {
      --end;
    }
  }
  if (begin == end) {
    return "";
  }
  const char* first = points[begin].data();
  const char* last = points[end - 1].data() + points[end - 1].size();
  return std::string(first, last);
}

namespace {

std::vector<std::string> split_whitespace(std::string_view s, int64_t maxsplit, bool from_right) {
  auto points = code_points(s);
  std::vector<std::pair<size_t, size_t>> words;  // code-point ranges
  size_t i = 0;
  while (i < points.size()) {
    while (i < points.size() && is_python_space(decode_utf8(points[i]))) {
      ++i;
    }
    if (i == points.size()) {
      break;
    }
    size_t start = i;
    while (i < points.size() && !is_python_space(decode_utf8(points[i]))) {
      ++i;
    }
    words.emplace_back(start, i);
  }
  auto text = [&](size_t from, size_t to) {
    return from >= to ? std::string() : std::string(points[from].data(), points[to - 1].data() + points[to - 1].size());
  };
  std::vector<std::string> out;
  if (maxsplit < 0 || static_cast<size_t>(maxsplit) >= words.size()) {
    for (auto [from, to] : words) {
      out.push_back(text(from, to));
    }
    return out;
  }
  size_t splits = static_cast<size_t>(maxsplit);
  if (!from_right) {
    for (size_t w = 0; w < splits; ++w) {
      out.push_back(text(words[w].first, words[w].second));
    }
    out.push_back(text(words[splits].first, points.size()));
    return out;
  }
  size_t keep = words.size() - splits;
  out.push_back(text(0, words[keep - 1].second));
  for (size_t w = keep; w < words.size(); ++w) {
    out.push_back(text(words[w].first, words[w].second));
  }
  return out;
}

}  // namespace

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right) {
  if (!sep) {
    return split_whitespace(s, maxsplit, from_right);
  }
  if (sep->empty()) {
    throw EvalError("empty separator");
  }
  std::vector<std::string> out;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) {
        break;
      }
      out.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    if (end < sep->size()) {
      break;
    }
    size_t at = s.rfind(*sep, end - sep->size());
    if (at == std::string_view::npos) {
      break;
    }
    out.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
    end = at;
  }
  out.emplace_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> splitlines(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' || c == '\x1e') {
      out.emplace_back(s.substr(start, i - start));
      i += (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < s.size()) {
    out.emplace_back(s.substr(start));
  }
  return out;
}

std::string replace(std::string_view s, std::string_view old, std::string_view with, int64_t count) {
  std::string out;
  if (old.empty()) {
    auto points = code_points(s);
    int64_t done = 0;
    for (size_t i = 0; i <= points.size(); ++i) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      if (i < points.size()) {
        out += points[i];
      }
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t at = s.find(old, start);
    if (at == std::string_view::npos) {
      break;
    }
    out += s.substr(start, at - start);
    out += with;
    start = at + old.size();
    ++done;
  }
  out += s.substr(start);
  return out;
}

int64_t count_occurrences(std::string_view s, std::string_view sub) {
  if (sub.empty()) {
    return static_cast<int64_t>(code_point_count(s)) + 1;
  }
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) {
    ++n;
  }
  return n;
}

int64_t find_index(std::string_view s, std::string_view sub, bool from_right) {
  size_t at = from_right ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) {
    return -1;
  }
  return static_cast<int64_t>(code_point_count(s.substr(0, at)));
}

namespace {

template <typename Map>
std::string map_code_points(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false;
  for (std::string_view cp : code_points(s)) {
    uint32_t code = decode_utf8(cp);
    append_utf8(out, static_cast<uint32_t>(map(static_cast<utf8proc_int32_t>(code), previous_cased)));
    auto category = utf8proc_category(static_cast<utf8proc_int32_t>(code));
    previous_cased = category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LL ||
                     category == UTF8PROC_CATEGORY_LT;
  }
  return out;
}

}  // namespace

std::string to_upper(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 'a' + 'A');
      }
    }
    return out;
  }
  // Python upper-cases "ß" to "SS" (a special casing that utf8proc's one-to-one mapping lacks).
  std::string out;
  size_t start = 0;
  for (size_t at = s.find("\xC3\x9F"); at != std::string_view::npos; at = s.find("\xC3\x9F", start)) {
    out += map_code_points(s.substr(start, at - start), [](utf8proc_int32_t c, bool) { return utf8proc_toupper(c); });
    out += "SS";
    start = at + 2;
  }
  return out + map_code_points(s.substr(start), [](utf8proc_int32_t c, bool) { return utf8proc_toupper(c); });
}

std::string to_lower(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    return out;
  }
  return map_code_points(s, [](utf8proc_int32_t c, bool) { return utf8proc_tolower(c); });
}

std::string python_title(std::string_view s) {
  return map_code_points(s, [](utf8proc_int32_t c, bool previous_cased) {
    return previous_cased ? utf8proc_tolower(c) : utf8proc_totitle(c);
  });
}

std::string capitalize(std::string_view s) {
  auto points = code_points(s);
  if (points.empty()) {
    return "";
  }
  std::string out;
  append_utf8(out, static_cast<uint32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(decode_utf8(points[0])))));
  out += to_lower(s.substr(points[0].size()));
  return out;
}

namespace {

std::string format_field(const Value& value, std::string_view spec) {
  if (spec.empty()) {
    return value.str();
  }
  int precision = -1;
  char type = '\0';
  size_t i = 0;
  if (i < spec.size() && spec[i] == '.') {
    precision = 0;
    for (++i; i < spec.size() && spec[i] >= '0' && spec[i] <= '9'; ++i) {
      precision = precision * 10 + (spec[i] - '0');
    }
  }
  if (i < spec.size()) {
    type = spec[i++];
  } else if (precision >= 0) {
    type = 'g';
  }
  if (i != spec.size()) {
    type = '?';
  }
  if ((type == 'f' || type == 'g' || type == 'e') && value.is_number()) {
    char buffer[64];
    char pattern[8] = {'%', '.', '*', type, '\0'};
    std::snprintf(buffer, sizeof(buffer), pattern, precision < 0 ? 6 : precision, value.to_double());
    return buffer;
  }
  if (type == 'd' && (value.is_int() || value.is_bool())) {
    return std::to_string(value.is_bool() ? int64_t{value.as_bool()} : value.as_int());
  }
  if (type == 's' && value.is_string()) {
    return value.as_string();
  }
  throw EvalError("unsupported format specification '" + std::string(spec) + "' for " + value.type_name());
}

}  // namespace

std::string format(std::string_view pattern, const Args& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '}') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '}') {
        ++i;
      } else {
        throw EvalError("Single '}' encountered in format string");
      }
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < pattern.size() && pattern[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = pattern.find('}', i);
    if (close == std::string_view::npos) {
      throw EvalError("Single '{' encountered in format string");
    }
    std::string_view field = pattern.substr(i + 1, close - i - 1);
    std::string_view spec;
    if (size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    const Value* value = nullptr;
    if (field.empty()) {
      value = auto_index < args.positional.size() ? &args.positional[auto_index] : nullptr;
      ++auto_index;
    } else if (field[0] >= '0' && field[0] <= '9') {
      size_t index = static_cast<size_t>(std::stoul(std::string(field)));
      value = index < args.positional.size() ? &args.positional[index] : nullptr;
    } else {
      for (const auto& [key, v] : args.keyword) {
        if (key == field) {
          value = &v;
        }
      }
    }
    if (!value) {
      throw EvalError("format field '{" + std::string(field) + "}' has no matching argument");
    }
    out += format_field(*value, spec);
    i = close;
  }
  return out;
}

std::string printf_format(std::string_view pattern, const List& values, const Value* mapping) {
  std::string out;
  size_t next_value = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      out += pattern[i];
      continue;
    }
    if (++i >= pattern.size()) {
      throw EvalError("incomplete format");
    }
    const Value* value = nullptr;
    if (pattern[i] == '(') {
      size_t close = pattern.find(')', i);
      if (close == std::string_view::npos || !mapping || !mapping->is_dict()) {
        throw EvalError("format requires a mapping");
      }
      value = mapping->as_dict().find(pattern.substr(i + 1, close - i - 1));
      if (!value) {
        throw EvalError("KeyError: '" + std::string(pattern.substr(i + 1, close - i - 1)) + "'");
      }
      i = close + 1;
    }
    std::string flags;
    while (i < pattern.size() && std::string_view("-+ 0#").find(pattern[i]) != std::string_view::npos) {
      flags += pattern[i++];
    }
    std::string width, precision;
    while (i < pattern.size() && pattern[i] >= '0' && pattern[i] <= '9') {
      width += pattern[i++];
    }
    if (i < pattern.size() && pattern[i] == '.') {
      precision = ".";
      for (++i; i < pattern.size() && pattern[i] >= '0' && pattern[i] <= '9'; ++i) {
        precision += pattern[i];
      }
    }
    if (i >= pattern.size()) {
      throw EvalError("incomplete format");
    }
    char conversion = pattern[i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (!value) {
      if (next_value >= values.size()) {
        throw EvalError("not enough arguments for format string");
      }
      value = &values[next_value++];
    }
    std::string spec = "%" + flags + width;
    char buffer[512];
    switch (conversion) {
      case 's':
      case 'r': {
        std::string text = conversion == 's' ? value->str() : value->repr();
        if (precision.size() > 1) {
          text = text.substr(0, std::stoul(precision.substr(1)));
        }
        size_t w = width.empty() ? 0 : std::stoul(width);
        size_t n = code_point_count(text);
        if (n < w) {
          text = flags.find('-') != std::string::npos ? text + std::string(w - n, ' ') : std::string(w - n, ' ') + text;
        }
        out += text;
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o':
      case 'c': {
        if (!value->is_number()) {
          throw EvalError("%" + std::string(1, conversion) + " format: a number is required, not " + value->type_name());
        }
        long long n = value->is_float() ? static_cast<long long>(value->as_float())
                                        : value->is_bool() ? value->as_bool() : value->as_int();
        std::string c_spec = spec + precision + "ll" + (conversion == 'i' ? 'd' : conversion);
        if (conversion == 'c') {
          append_utf8(out, static_cast<uint32_t>(n));
          break;
        }
        std::snprintf(buffer, sizeof(buffer), c_spec.c_str(), n);
        out += buffer;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!value->is_number()) {
          throw EvalError("must be real number, not " + value->type_name());
        }
        std::string c_spec = spec + precision + conversion;
        std::snprintf(buffer, sizeof(buffer), c_spec.c_str(), value->to_double());
        out += buffer;
        break;
      }
      default: throw EvalError(std::string("unsupported format character '") + conversion + "'");
    }
  }
  if (!mapping && next_value < values.size()) {
    throw EvalError("not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace tessera::jinja
