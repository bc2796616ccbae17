// Jinja's builtin filters, with transformers' tojson.
#include "lm/template/runtime.h"
#include "lm/template/strings.h"
#include "lm/template/utf8.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>

namespace tessera::jinja {

namespace {

using Filter = std::function<Value(Renderer&, const Value&, Args&)>;

const Value* arg(const Args& args, size_t index, std::string_view name) {
  return args.get(index, name);
}

bool flag(const Args& args, size_t index, std::string_view name, bool fallback = false) {
  const Value* v = args.get(index, name);
  return v ? v->truthy() : fallback;
}

int64_t integer(const Value& v, std::string_view what) {
  if (v.is_int()) {
    return v.as_int();
  }
  if (v.is_bool()) {
    return v.as_bool();
  }
  throw EvalError(std::string(what) + " must be an integer, got " + v.type_name());
}

// Jinja's attribute getter: "a.b.0" walks attributes and integer indices.
Value lookup_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    current = numeric ? get_item(current, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(current, Value(part));
    if (dot == std::string::npos) {
      return current;
    }
    start = dot + 1;
  }
}

std::string attribute_name(const Args& args, size_t index) {
  const Value* v = args.get(index, "attribute");
  if (!v || v->is_none()) {
    return "";
  }
  return v->is_string() ? v->as_string() : v->str();
}

// The sort key Jinja uses when case_sensitive is false: strings lowercased.
Value fold_case(const Value& v, bool case_sensitive) {
  return (!case_sensitive && v.is_string()) ? Value(to_lower(v.as_string())) : v;
}

Value do_first(Renderer&, const Value& value, Args&) {
  List items = iterate(value);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value do_last(Renderer&, const Value& value, Args&) {
  List items = iterate(value);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value do_default(Renderer&, const Value& value, Args& args) {
  const Value* fallback = arg(args, 0, "default_value");
  bool boolean = flag(args, 1, "boolean");
  if (value.is_undefined() || (boolean && !value.truthy())) {
    return fallback ? *fallback : Value("");
  }
  return value;
}

Value do_join(Renderer&, const Value& value, Args& args) {
  const Value* separator = arg(args, 0, "d");
  std::string sep = separator ? separator->str() : "";
  std::string attribute = attribute_name(args, 1);
  std::string out;
  bool first = true;
  for (const Value& item : iterate(value)) {
    out += (first ? "" : sep) + (attribute.empty() ? item : lookup_path(item, attribute)).str();
    first = false;
  }
  return Value(std::move(out));
}

Value do_int(Renderer&, const Value& value, Args& args) {
  const Value* fallback = arg(args, 0, "default");
  Value default_value = fallback ? *fallback : Value(0);
  if (value.is_int()) return value;
  if (value.is_bool()) return Value(int64_t{value.as_bool()});
  if (value.is_float()) {
    return std::isfinite(value.as_float()) ? Value(static_cast<int64_t>(std::trunc(value.as_float()))) : default_value;
  }
  if (value.is_string()) {
    std::string s = strip(value.as_string(), std::nullopt, StripSide::Both);
    std::string digits;
    for (char c : s) {
      if (c != '_') {
        digits += c;
      }
    }
    char* end = nullptr;
    long long i = std::strtoll(digits.c_str(), &end, 10);
    if (!digits.empty() && end && *end == '\0') {
      return Value(static_cast<int64_t>(i));
    }
    double d = std::strtod(digits.c_str(), &end);
    if (!digits.empty() && end && *end == '\0' && std::isfinite(d)) {
      return Value(static_cast<int64_t>(std::trunc(d)));
    }
  }
  return default_value;
}

Value do_float(Renderer&, const Value& value, Args& args) {
  const Value* fallback = arg(args, 0, "default");
  Value default_value = fallback ? *fallback : Value(0.0);
  if (value.is_number()) return Value(value.to_double());
  if (value.is_string()) {
    std::string s = strip(value.as_string(), std::nullopt, StripSide::Both);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') {
      return Value(d);
    }
  }
  return default_value;
}

Value do_round(Renderer&, const Value& value, Args& args) {
  const Value* precision_arg = arg(args, 0, "precision");
  int64_t precision = precision_arg ? integer(*precision_arg, "precision") : 0;
  const Value* method_arg = arg(args, 1, "method");
  std::string method = method_arg ? method_arg->str() : "common";
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = value.to_double() * scale;
  if (method == "common") {
    x = std::nearbyint(x);  // Python's round(): halves go to the even neighbour
  } else if (method == "floor") {
    x = std::floor(x);
  } else if (method == "ceil") {
    x = std::ceil(x);
  } else {
    throw EvalError("method must be common, ceil or floor");
  }
  return Value(x / scale);
}

Value do_indent(Renderer&, const Value& value, Args& args) {
  const Value* width = arg(args, 0, "width");
  std::string indentation = !width ? "    " : width->is_string() ? width->as_string()
                                                                 : std::string(static_cast<size_t>(std::max<int64_t>(0, integer(*width, "width"))), ' ');
  bool first = flag(args, 1, "first");
  bool blank = flag(args, 2, "blank");
  std::vector<std::string> lines = splitlines(value.str() + "\n");
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      out += (i ? "\n" + indentation : "") + lines[i];
    }
  } else {
    out = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      out += '\n';
      if (!lines[i].empty()) {
        out += indentation;
        out += lines[i];
      }
    }
  }
  return Value(first ? indentation + out : out);
}

Value do_escape(Renderer&, const Value& value, Args&) {
  std::string out;
  for (char c : value.str()) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(std::move(out));
}

Value do_title(Renderer&, const Value& value, Args&) {
  // Jinja capitalizes each piece after a run of whitespace, '-', '(', '{', '[' or '<'.
  std::string s = value.str(), out;
  auto is_break = [](std::string_view cp) {
    return cp.size() == 1 && (is_python_space(static_cast<unsigned char>(cp[0])) || std::string_view("-({[<").find(cp[0]) != std::string_view::npos);
  };
  auto points = code_points(s);
  size_t i = 0;
  while (i < points.size()) {
    size_t j = i;
    bool breaking = is_break(points[i]) || is_python_space(decode_utf8(points[i]));
    while (j < points.size() && (is_break(points[j]) || is_python_space(decode_utf8(points[j]))) == breaking) {
      ++j;
    }
    std::string piece(points[i].data(), points[j - 1].data() + points[j - 1].size());
    out += to_upper(points[i]) + to_lower(piece.substr(points[i].size()));
    i = j;
  }
  return Value(std::move(out));
}

Value do_wordcount(Renderer&, const Value& value, Args&) {
  int64_t words = 0;
  bool in_word = false;
  const std::string text = value.str();
  for (std::string_view cp : code_points(text)) {
    uint32_t c = decode_utf8(cp);
    bool word_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                     (c >= 0x80 && !is_python_space(c));
    words += word_char && !in_word;
    in_word = word_char;
  }
  return Value(words);
}

Value do_center(Renderer&, const Value& value, Args& args) {
  const Value* width_arg = arg(args, 0, "width");
  int64_t width = width_arg ? integer(*width_arg, "width") : 80;
  std::string s = value.str();
  int64_t n = static_cast<int64_t>(code_point_count(s));
  if (width <= n) {
    return Value(s);
  }
  int64_t margin = width - n;
  // Python's str.center puts the odd extra space on the left when the width is odd.
  int64_t left = margin / 2 + (margin & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(margin - left), ' '));
}

List sorted(List items, bool reverse, bool case_sensitive, const std::string& attribute) {
  auto key = [&](const Value& v) { return fold_case(attribute.empty() ? v : lookup_path(v, attribute), case_sensitive); };
  std::vector<std::pair<Value, Value>> keyed;
  keyed.reserve(items.size());
  for (auto& item : items) {
    keyed.emplace_back(key(item), std::move(item));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? less_than(b.first, a.first) : less_than(a.first, b.first);
  });
  List out;
  for (auto& [k, v] : keyed) {
    out.push_back(std::move(v));
  }
  return out;
}

Value do_sort(Renderer&, const Value& value, Args& args) {
  return Value(sorted(iterate(value), flag(args, 0, "reverse"), flag(args, 1, "case_sensitive"), attribute_name(args, 2)));
}

Value do_dictsort(Renderer&, const Value& value, Args& args) {
  if (!value.is_dict()) {
    throw EvalError("dictsort filter expects a mapping, got " + value.type_name());
  }
  bool case_sensitive = flag(args, 0, "case_sensitive");
  const Value* by_arg = arg(args, 1, "by");
  std::string by = by_arg ? by_arg->str() : "key";
  if (by != "key" && by != "value") {
    throw EvalError("You can only sort by either \"key\" or \"value\"");
  }
  List pairs;
  for (const auto& [k, v] : value.as_dict().items) {
    pairs.push_back(Value::tuple({k, v}));
  }
  return Value(sorted(std::move(pairs), flag(args, 2, "reverse"), case_sensitive, by == "key" ? "0" : "1"));
}

Value do_unique(Renderer&, const Value& value, Args& args) {
  bool case_sensitive = flag(args, 0, "case_sensitive");
  std::string attribute = attribute_name(args, 1);
  List seen, out;
  for (const Value& item : iterate(value)) {
    Value key = fold_case(attribute.empty() ? item : lookup_path(item, attribute), case_sensitive);
    if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
      seen.push_back(std::move(key));
      out.push_back(item);
    }
  }
  return Value(std::move(out));
}

Value min_or_max(const Value& value, Args& args, bool want_max) {
  bool case_sensitive = flag(args, 0, "case_sensitive");
  std::string attribute = attribute_name(args, 1);
  List items = iterate(value);
  if (items.empty()) {
    return Value::undefined(std::string("No aggregated item, sequence was empty."));
  }
  size_t best = 0;
  auto key = [&](const Value& v) { return fold_case(attribute.empty() ? v : lookup_path(v, attribute), case_sensitive); };
  for (size_t i = 1; i < items.size(); ++i) {
    if (want_max ? less_than(key(items[best]), key(items[i])) : less_than(key(items[i]), key(items[best]))) {
      best = i;
    }
  }
  return items[best];
}

Value do_sum(Renderer&, const Value& value, Args& args) {
  std::string attribute = attribute_name(args, 0);
  const Value* start = arg(args, 1, "start");
  Value total = start ? *start : Value(0);
  for (const Value& item : iterate(value)) {
    total = binary_op("+", total, attribute.empty() ? item : lookup_path(item, attribute));
  }
  return total;
}

Value do_reverse(Renderer&, const Value& value, Args&) {
  if (value.is_string()) {
    auto points = code_points(value.as_string());
    std::string out;
    for (auto it = points.rbegin(); it != points.rend(); ++it) {
      out += *it;
    }
    return Value(std::move(out));
  }
  List items = iterate(value);
  std::reverse(items.begin(), items.end());
  return Value(std::move(items));
}

Value do_items(Renderer&, const Value& value, Args&) {
  if (value.is_undefined()) {
    return Value(List{});
  }
  if (!value.is_dict()) {
    throw EvalError("Can only get item pairs from a mapping.");
  }
  List out;
  for (const auto& [k, v] : value.as_dict().items) {
    out.push_back(Value::tuple({k, v}));
  }
  return Value(std::move(out));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value do_tojson(Renderer&, const Value& value, Args& args) {
  bool ensure_ascii = flag(args, 0, "ensure_ascii");
  const Value* indent_arg = arg(args, 1, "indent");
  int indent = (indent_arg && !indent_arg->is_none()) ? static_cast<int>(integer(*indent_arg, "indent")) : -1;
  const Value* separators = arg(args, 2, "separators");
  bool sort_keys = flag(args, 3, "sort_keys");
  if (!separators || separators->is_none()) {
    return Value(to_json(value, indent, sort_keys, ensure_ascii));
  }
  List pair = separators->is_list() ? separators->as_list() : List{};
  if (pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
    throw EvalError("tojson separators must be a pair of strings (item_separator, key_separator)");
  }
  return Value(to_json(value, indent, sort_keys, ensure_ascii, pair[0].as_string(), pair[1].as_string()));
}

// map/select/reject/selectattr/rejectattr share the "apply a filter or test per item" shape.
Value do_map(Renderer& renderer, const Value& value, Args& args) {
  List out;
  if (args.positional.empty()) {
    std::string attribute = attribute_name(args, 99);
    const Value* fallback = args.get(99, "default");
    for (const Value& item : iterate(value)) {
      Value v = lookup_path(item, attribute);
      out.push_back(v.is_undefined() && fallback ? *fallback : v);
    }
    return Value(std::move(out));
  }
  std::string name = args.positional[0].str();
  Args rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(value)) {
    Args copy = rest;
    out.push_back(apply_filter(renderer, name, item, copy));
  }
  return Value(std::move(out));
}

Value select_items(Renderer& renderer, const Value& value, Args& args, bool by_attribute, bool keep) {
  size_t first_test_arg = by_attribute ? 1 : 0;
  std::string attribute = by_attribute ? (args.positional.empty() ? "" : args.positional[0].str()) : "";
  if (by_attribute && attribute.empty()) {
    throw EvalError("Missing parameter for attribute name");
  }
  std::string test = args.positional.size() > first_test_arg ? args.positional[first_test_arg].str() : "";
  Args test_args;
  if (args.positional.size() > first_test_arg + 1) {
    test_args.positional.assign(args.positional.begin() + static_cast<long>(first_test_arg) + 1, args.positional.end());
  }
  test_args.keyword = args.keyword;
  List out;
  for (const Value& item : iterate(value)) {
    Value subject = by_attribute ? lookup_path(item, attribute) : item;
    bool passed;
    if (test.empty()) {
      passed = subject.truthy();
    } else {
      Args copy = test_args;
      passed = apply_test(renderer, test, subject, copy);
    }
    if (passed == keep) {
      out.push_back(item);
    }
  }
  return Value(std::move(out));
}

Value do_batch(Renderer&, const Value& value, Args& args) {
  const Value* count_arg = arg(args, 0, "linecount");
  if (!count_arg) {
    throw EvalError("batch filter needs a line count");
  }
  int64_t size = integer(*count_arg, "linecount");
  if (size <= 0) {
    throw EvalError("batch line count must be positive");
  }
  const Value* fill = arg(args, 1, "fill_with");
  List out, current;
  for (const Value& item : iterate(value)) {
    current.push_back(item);
    if (static_cast<int64_t>(current.size()) == size) {
      out.emplace_back(std::move(current));
      current = {};
    }
  }
  if (!current.empty()) {
    while (fill && static_cast<int64_t>(current.size()) < size) {
      current.push_back(*fill);
    }
    out.emplace_back(std::move(current));
  }
  return Value(std::move(out));
}

const std::unordered_map<std::string_view, Filter>& filters() {
  static const std::unordered_map<std::string_view, Filter> table = [] {
    std::unordered_map<std::string_view, Filter> t;
    auto string_filter = [](std::string (*f)(std::string_view)) {
      return [f](Renderer&, const Value& v, Args&) { return Value(f(v.str())); };
    };
    t["trim"] = [](Renderer&, const Value& v, Args& args) {
      const Value* chars = args.get(0, "chars");
      return Value(strip(v.str(), chars && !chars->is_none() ? std::optional<std::string>(chars->str()) : std::nullopt,
                         StripSide::Both));
    };
    t["tojson"] = do_tojson;
    t["length"] = t["count"] = [](Renderer&, const Value& v, Args&) { return Value(length(v)); };
    t["upper"] = string_filter(to_upper);
    t["lower"] = string_filter(to_lower);
    t["capitalize"] = string_filter(capitalize);
    t["title"] = do_title;
    t["default"] = t["d"] = do_default;
    t["join"] = do_join;
    t["replace"] = [](Renderer&, const Value& v, Args& args) {
      const Value* old = args.get(0, "old");
      const Value* with = args.get(1, "new");
      const Value* count = args.get(2, "count");
      if (!old || !with) {
        throw EvalError("replace filter needs the old and new strings");
      }
      return Value(replace(v.str(), old->str(), with->str(), count && !count->is_none() ? integer(*count, "count") : -1));
    };
    t["first"] = do_first;
    t["last"] = do_last;
    t["list"] = [](Renderer&, const Value& v, Args&) { return Value(iterate(v)); };
    t["items"] = do_items;
    t["string"] = [](Renderer&, const Value& v, Args&) { return Value(v.str()); };
    t["int"] = do_int;
    t["float"] = do_float;
    t["abs"] = [](Renderer&, const Value& v, Args&) {
      if (v.is_float()) return Value(std::fabs(v.as_float()));
      if (v.is_int() || v.is_bool()) return Value(std::abs(integer(v, "abs")));
      throw EvalError("bad operand type for abs(): '" + v.type_name() + "'");
    };
    t["round"] = do_round;
    t["map"] = do_map;
    t["select"] = [](Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, false, true); };
    t["reject"] = [](Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, false, false); };
    t["selectattr"] = [](Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, true, true); };
    t["rejectattr"] = [](Renderer& r, const Value& v, Args& a) { return select_items(r, v, a, true, false); };
    t["unique"] = do_unique;
    t["sort"] = do_sort;
    t["dictsort"] = do_dictsort;
    t["reverse"] = do_reverse;
    t["safe"] = [](Renderer&, const Value& v, Args&) { return v; };
    t["escape"] = t["e"] = t["forceescape"] = do_escape;
    t["indent"] = do_indent;
    t["wordcount"] = do_wordcount;
    t["center"] = do_center;
    t["max"] = [](Renderer&, const Value& v, Args& a) { return min_or_max(v, a, true); };
    t["min"] = [](Renderer&, const Value& v, Args& a) { return min_or_max(v, a, false); };
    t["sum"] = do_sum;
    t["batch"] = do_batch;
    t["format"] = [](Renderer&, const Value& v, Args& args) {
      if (!args.positional.empty() && !args.keyword.empty()) {
        throw EvalError("can't handle positional and keyword arguments at the same time");
      }
      if (!args.keyword.empty()) {
        Value mapping = Value::dict();
        for (const auto& [key, value] : args.keyword) {
          mapping.as_dict().set(Value(key), value);
        }
        return Value(printf_format(v.str(), {}, &mapping));
      }
      return Value(printf_format(v.str(), args.positional, nullptr));
    };
    t["attr"] = [](Renderer&, const Value& v, Args& args) {
      const Value* name = args.get(0, "name");
      if (!name) {
        throw EvalError("attr filter needs an attribute name");
      }
      // Jinja's attr filter reads attributes only, never dict items.
      return v.kind() == Value::Kind::Dict ? method_value(v, name->str()) : get_attribute(v, name->str());
    };
    return t;
  }();
  return table;
}

}  // namespace

bool has_filter(std::string_view name) {
  return filters().count(name) > 0;
}

Value apply_filter(Renderer& renderer, std::string_view name, const Value& subject, Args& args) {
  const auto& table = filters();
  auto it = table.find(name);
  if (it == table.end()) {
    throw EvalError("no filter named '" + std::string(name) + "'");
  }
  // Most filters treat undefined as Jinja's Undefined does (empty string, empty sequence);
  // these need a real value.
  if (subject.is_undefined() && (name == "round" || name == "dictsort" || name == "attr")) {
    fail_undefined(subject);
  }
  return it->second(renderer, subject, args);
}

}  // namespace tessera::jinja
