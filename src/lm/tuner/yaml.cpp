// The YAML subset of mlx-lm's training configs: nested block mappings, block lists of scalars,
// flow lists ([a, b]), and scalars (quoted or plain strings, numbers, booleans, null).
#include <cctype>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "tessera/lm/tuner.h"

namespace tessera::lm {

namespace {

struct Line {
  int number;
  int indent;
  std::string text;
};

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Drops a comment: '#' at the start or after whitespace, outside quotes.
std::string strip_comment(const std::string& s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (quote) {
      if (s[i] == quote) quote = 0;
    } else if (s[i] == '"' || s[i] == '\'') {
      quote = s[i];
    } else if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

class Parser {
 public:
  Parser(std::vector<Line> lines, std::string file) : lines_(std::move(lines)), file_(std::move(file)) {}

  nlohmann::json document() {
    if (lines_.empty()) return nlohmann::json::object();
    nlohmann::json out = block(lines_[0].indent);
    if (pos_ < lines_.size()) fail(lines_[pos_], "unexpected indentation");
    return out;
  }

 private:
  [[noreturn]] void fail(const Line& line, const std::string& what) const {
    throw std::runtime_error(file_ + ":" + std::to_string(line.number) + ": " + what);
  }

  nlohmann::json block(int indent) {
    if (lines_[pos_].text.starts_with("- ") || lines_[pos_].text == "-") return list(indent);
    nlohmann::json out = nlohmann::json::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent) {
      const Line& line = lines_[pos_];
      const size_t colon = key_end(line);
      std::string key = unquote(trim(line.text.substr(0, colon)));
      std::string rest = trim(line.text.substr(colon + 1));
      ++pos_;
      if (!rest.empty()) {
        out[key] = value(rest, line);
      } else if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
        out[key] = block(lines_[pos_].indent);
      } else if (pos_ < lines_.size() && lines_[pos_].indent == indent && lines_[pos_].text.starts_with("-")) {
        out[key] = list(indent);
      } else {
        out[key] = nullptr;
      }
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) fail(lines_[pos_], "unexpected indentation");
    return out;
  }

  nlohmann::json list(int indent) {
    nlohmann::json out = nlohmann::json::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent && lines_[pos_].text.starts_with("-")) {
      const Line& line = lines_[pos_++];
      out.push_back(value(trim(line.text.substr(1)), line));
    }
    return out;
  }

  size_t key_end(const Line& line) const {
    char quote = 0;
    for (size_t i = 0; i < line.text.size(); ++i) {
      const char c = line.text[i];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == ':' && (i + 1 == line.text.size() || line.text[i + 1] == ' ')) {
        return i;
      }
    }
    fail(line, "expected 'key: value'");
  }

  static std::string unquote(const std::string& s) {
    if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
      return s.substr(1, s.size() - 2);
    }
    return s;
  }

  nlohmann::json value(const std::string& text, const Line& line) const {
    if (text.starts_with("[")) {
      if (!text.ends_with("]")) fail(line, "unterminated list");
      nlohmann::json out = nlohmann::json::array();
      std::string inner = trim(text.substr(1, text.size() - 2));
      if (inner.empty()) return out;
      std::string item;
      char quote = 0;
      for (char c : inner + ",") {
        if (quote) {
          if (c == quote) quote = 0;
          item += c;
        } else if (c == '"' || c == '\'') {
          quote = c;
          item += c;
        } else if (c == ',') {
          out.push_back(value(trim(item), line));
          item.clear();
        } else {
          item += c;
        }
      }
      return out;
    }
    if (text.starts_with("{")) fail(line, "flow mappings are not supported; use an indented block");
    if (text.front() == '"' || text.front() == '\'') {
      if (text.size() < 2 || text.back() != text.front()) fail(line, "unterminated string");
      return unquote(text);
    }
    if (text == "true" || text == "True") return true;
    if (text == "false" || text == "False") return false;
    if (text == "null" || text == "~" || text == "None") return nullptr;
    try {
      size_t used = 0;
      long long i = std::stoll(text, &used);
      if (used == text.size()) return i;
      double d = std::stod(text, &used);
      if (used == text.size()) return d;
    } catch (const std::exception&) {
    }
    return text;
  }

  std::vector<Line> lines_;
  std::string file_;
  size_t pos_ = 0;
};

}  // namespace

nlohmann::json read_yaml_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the config file");
  std::vector<Line> lines;
  std::string raw;
  for (int number = 1; std::getline(in, raw); ++number) {
    std::string text = strip_comment(raw);
    if (trim(text).empty() || trim(text) == "---") continue;
    if (text.find('\t') < text.find_first_not_of(" \t")) {
      throw std::runtime_error(path + ":" + std::to_string(number) + ": tabs are not allowed for indentation");
    }
    const int indent = static_cast<int>(text.find_first_not_of(' '));
    lines.push_back({number, indent, trim(text)});
  }
  nlohmann::json out = Parser(std::move(lines), path).document();
  if (!out.is_object()) throw std::runtime_error(path + ": the config must be a mapping");
  return out;
}

}  // namespace tessera::lm
