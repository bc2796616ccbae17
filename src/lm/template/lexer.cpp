#include "lm/template/lexer.h"

#include "lm/template/utf8.h"
#include "tessera/lm/jinja.h"

#include <array>
#include <cstring>

namespace tessera::jinja {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// Jinja lexes with the newlines normalized to "\n" and one trailing newline dropped
// (keep_trailing_newline is off).
std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') {
        ++i;
      }
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') {
    out.pop_back();
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      int text_line = line_, text_col = column_at(pos_);
      if (tag == src_.size()) {
        advance_to(tag);
        emit_text(std::move(text), text_line, text_col);
        break;
      }
      char kind = src_[tag + 1];
      char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        text.erase(text.find_last_not_of(" \t\n\r\f\v") + 1);
      } else if (sign != '+' && kind != '{') {
        size_t line_start = text.rfind('\n');
        line_start = line_start == std::string::npos ? 0 : line_start + 1;
        if ((line_start > 0 || line_starting) &&
            text.find_first_not_of(" \t", line_start) == std::string::npos) {
          text.erase(line_start);
        }
      }
      emit_text(std::move(text), text_line, text_col);
      advance_to(tag);
      size_t opener = (sign == '-' || sign == '+') ? 3 : 2;
      if (kind == '#') {
        line_starting = lex_comment(tag + opener);
      } else if (kind == '%' && lex_raw(tag + opener, line_starting)) {
      } else {
        line_starting = lex_tag(kind, tag + opener);
      }
    }
    tokens_.push_back({TokenType::End, "", line_, column_at(pos_)});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& message, size_t at) {
    advance_to(at);
    throw TemplateError("template syntax error at line " + std::to_string(line_) + ", column " +
                        std::to_string(column_at(at)) + ": " + message);
  }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  void advance_to(size_t target) {
    for (; pos_ < target; ++pos_) {
      if (src_[pos_] == '\n') {
        ++line_;
        line_begin_ = pos_ + 1;
      }
    }
  }
  int column_at(size_t at) const { return static_cast<int>(at - line_begin_) + 1; }

  void emit_text(std::string text, int line, int column) {
    if (!text.empty()) {
      tokens_.push_back({TokenType::Text, std::move(text), line, column});
    }
  }
  void emit(TokenType type, std::string value, size_t at) {
    tokens_.push_back({type, std::move(value), line_, column_at(at)});
  }

  // Consumes the whitespace that a closing tag removes after itself and returns whether the
  // consumed text ended a line (Jinja's "line_starting" for the lstrip_blocks rule).
  bool finish_tag(size_t end, bool strip, bool trim_newline) {
    size_t after = end;
    if (strip) {
      while (after < src_.size() && is_space(src_[after])) {
        ++after;
      }
    } else if (trim_newline && after < src_.size() && src_[after] == '\n') {
      ++after;
    }
    advance_to(after);
    return src_[after - 1] == '\n';
  }

  bool lex_comment(size_t from) {
    size_t end = src_.find("#}", from);
    if (end == std::string::npos) {
      fail("missing end of comment tag", from);
    }
    bool strip = end > from && src_[end - 1] == '-';
    return finish_tag(end + 2, strip, true);
  }

  // {% raw %}...{% endraw %}: the body is text, tags and all.
  bool lex_raw(size_t from, bool& line_starting) {
    size_t p = skip_spaces(from);
    if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) {
      return false;
    }
    p = skip_spaces(p + 3);
    bool strip_after_begin = src_.compare(p, 3, "-%}") == 0;
    if (!strip_after_begin && src_.compare(p, 2, "%}") != 0) {
      return false;
    }
    size_t body = p + (strip_after_begin ? 3 : 2);
    if (strip_after_begin) {
      while (body < src_.size() && is_space(src_[body])) {
        ++body;
      }
    }
    for (size_t q = src_.find("{%", body); q != std::string::npos; q = src_.find("{%", q + 2)) {
      bool strip_before = q + 2 < src_.size() && src_[q + 2] == '-';
      size_t r = skip_spaces(q + 2 + ((strip_before || (q + 2 < src_.size() && src_[q + 2] == '+')) ? 1 : 0));
      if (src_.compare(r, 6, "endraw") != 0) {
        continue;
      }
      r = skip_spaces(r + 6);
      bool strip_after = src_.compare(r, 3, "-%}") == 0;
      if (!strip_after && src_.compare(r, 2, "%}") != 0) {
        continue;
      }
      std::string text = src_.substr(body, q - body);
      if (strip_before) {
        text.erase(text.find_last_not_of(" \t\n\r\f\v") + 1);
      }
      advance_to(body);
      emit_text(std::move(text), line_, column_at(body));
      line_starting = finish_tag(r + (strip_after ? 3 : 2), strip_after, true);
      return true;
    }
    fail("missing end of raw directive", from);
  }

  size_t skip_spaces(size_t p) const {
    while (p < src_.size() && is_space(src_[p])) {
      ++p;
    }
    return p;
  }

  // Lexes the expression tokens of a {{ }} or {% %} tag up to its closing delimiter.
  bool lex_tag(char kind, size_t from) {
    const bool block = kind == '%';
    emit(block ? TokenType::BlockBegin : TokenType::VariableBegin, "", pos_);
    const char* close = block ? "%}" : "}}";
    size_t p = from;
    std::string open_brackets;  // the closers expected, innermost last
    while (true) {
      p = skip_spaces(p);
      advance_to(p);
      if (p >= src_.size()) {
        fail(std::string("unexpected end of template, expected '") + close + "'", p);
      }
      if (open_brackets.empty()) {
        if (src_.compare(p, 2, close) == 0) {
          emit(block ? TokenType::BlockEnd : TokenType::VariableEnd, "", p);
          return finish_tag(p + 2, false, block);
        }
        if ((src_[p] == '-' || (block && src_[p] == '+')) && src_.compare(p + 1, 2, close) == 0) {
          emit(block ? TokenType::BlockEnd : TokenType::VariableEnd, "", p);
          return finish_tag(p + 3, src_[p] == '-', false);
        }
      }
      p = lex_expression_token(p, open_brackets);
    }
  }

  size_t lex_expression_token(size_t p, std::string& open_brackets) {
    char c = src_[p];
    if (is_name_start(c)) {
      size_t e = p;
      while (e < src_.size() && is_name_char(src_[e])) {
        ++e;
      }
      emit(TokenType::Name, src_.substr(p, e - p), p);
      return e;
    }
    if (is_digit(c)) {
      return lex_number(p);
    }
    if (c == '\'' || c == '"') {
      return lex_string(p);
    }
    static constexpr std::array<const char*, 4> two_char = {"//", "**", "==", "!="};
    for (const char* op : two_char) {
      if (src_.compare(p, 2, op) == 0) {
        emit(TokenType::Operator, op, p);
        return p + 2;
      }
    }
    if ((c == '<' || c == '>') && p + 1 < src_.size() && src_[p + 1] == '=') {
      emit(TokenType::Operator, src_.substr(p, 2), p);
      return p + 2;
    }
    if (std::strchr("+-/*%~[](){}<>=.:|,", c) == nullptr) {
      fail(std::string("unexpected char '") + c + "'", p);
    }
    if (c == '(' || c == '[' || c == '{') {
      open_brackets += c == '(' ? ')' : c == '[' ? ']' : '}';
    } else if (c == ')' || c == ']' || c == '}') {
      if (open_brackets.empty()) {
        fail(std::string("unexpected '") + c + "'", p);
      }
      if (open_brackets.back() != c) {
        fail(std::string("unexpected '") + c + "', expected '" + open_brackets.back() + "'", p);
      }
      open_brackets.pop_back();
    }
    emit(TokenType::Operator, std::string(1, c), p);
    return p + 1;
  }

  size_t digits(size_t p) const {
    while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])))) {
      ++p;
    }
    return p;
  }

  size_t lex_number(size_t p) {
    size_t e = digits(p);
    bool after_dot = !tokens_.empty() && tokens_.back().type == TokenType::Operator && tokens_.back().value == ".";
    bool is_float = false;
    if (!after_dot) {
      if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
        e = digits(e + 1);
        is_float = true;
      }
      if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
        size_t x = e + 1;
        if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) {
          ++x;
        }
        if (x < src_.size() && is_digit(src_[x])) {
          e = digits(x);
          is_float = true;
        }
      }
    }
    std::string spelling;
    for (size_t i = p; i < e; ++i) {
      if (src_[i] != '_') {
        spelling += src_[i];
      }
    }
    emit(is_float ? TokenType::Float : TokenType::Integer, std::move(spelling), p);
    return e;
  }

  size_t lex_string(size_t p) {
    char quote = src_[p];
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) {
        fail("unterminated string literal", p);
      }
      char c = src_[i];
      if (c == quote) {
        break;
      }
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      i = decode_escape(i, value);
    }
    emit(TokenType::String, std::move(value), p);
    return i + 1;
  }

  // Python's unicode-escape decoding of one backslash sequence; unknown escapes stay as written.
  size_t decode_escape(size_t i, std::string& out) {
    char e = src_[i + 1];
    switch (e) {
      case 'n': out += '\n'; return i + 2;
      case 't': out += '\t'; return i + 2;
      case 'r': out += '\r'; return i + 2;
      case '\\': out += '\\'; return i + 2;
      case '\'': out += '\''; return i + 2;
      case '"': out += '"'; return i + 2;
      case 'a': out += '\a'; return i + 2;
      case 'b': out += '\b'; return i + 2;
      case 'f': out += '\f'; return i + 2;
      case 'v': out += '\v'; return i + 2;
      case '\n': return i + 2;
      default: break;
    }
    if (e >= '0' && e <= '7') {
      uint32_t code = 0;
      size_t j = i + 1;
      for (int n = 0; n < 3 && j < src_.size() && src_[j] >= '0' && src_[j] <= '7'; ++n, ++j) {
        code = code * 8 + static_cast<uint32_t>(src_[j] - '0');
      }
      append_utf8(out, code);
      return j;
    }
    int width = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (width == 0) {
      out += '\\';
      return i + 1;
    }
    uint32_t code = 0;
    for (int n = 0; n < width; ++n) {
      size_t j = i + 2 + static_cast<size_t>(n);
      char h = j < src_.size() ? src_[j] : '\0';
      int digit = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (digit < 0) {
        fail("truncated \\" + std::string(1, e) + " escape in string literal", i);
      }
      code = code * 16 + static_cast<uint32_t>(digit);
    }
    append_utf8(out, code);
    return i + 2 + static_cast<size_t>(width);
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_begin_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  return Lexer(normalize_source(source)).run();
}

std::string describe(const Token& token) {
  switch (token.type) {
    case TokenType::Text: return "template text";
    case TokenType::VariableBegin: return "'{{'";
    case TokenType::VariableEnd: return "end of print statement";
    case TokenType::BlockBegin: return "'{%'";
    case TokenType::BlockEnd: return "end of statement block";
    case TokenType::Name: return "'" + token.value + "'";
    case TokenType::String: return "string literal";
    case TokenType::Integer:
    case TokenType::Float: return "number " + token.value;
    case TokenType::Operator: return "'" + token.value + "'";
    case TokenType::End: return "end of template";
  }
  return "token";
}

}  // namespace tessera::jinja
