#include "lm/tokenizer/json_reader.h"

#include <cstdlib>
#include <stdexcept>

#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(file_ + ": malformed JSON at byte " + std::to_string(pos_) + ": " +
                             what);
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }

  char peek() {
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    return s_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  // Consumes c if it is next.
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  bool at_end() {
    skip_ws();
    return pos_ >= s_.size();
  }

  // A string; a view into the input when it has no escapes, else decoded into `scratch`.
  std::string_view string(std::string& scratch) {
    expect('"');
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != '"' && s_[pos_] != '\\') {
      if (static_cast<unsigned char>(s_[pos_]) < 0x20) fail("control character in string");
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    if (s_[pos_] == '"') {
      return s_.substr(start, pos_++ - start);
    }
    scratch.assign(s_.substr(start, pos_ - start));
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        scratch += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': scratch += '"'; break;
        case '\\': scratch += '\\'; break;
        case '/': scratch += '/'; break;
        case 'b': scratch += '\b'; break;
        case 'f': scratch += '\f'; break;
        case 'n': scratch += '\n'; break;
        case 'r': scratch += '\r'; break;
        case 't': scratch += '\t'; break;
        case 'u': {
          char32_t c1 = hex4();
          if (c1 >= 0xD800 && c1 <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            char32_t c2 = hex4();
            if (c2 >= 0xDC00 && c2 <= 0xDFFF) {
              c1 = 0x10000 + ((c1 - 0xD800) << 10) + (c2 - 0xDC00);
            } else {
              fail("invalid surrogate pair");
            }
          } else if (c1 >= 0xD800 && c1 <= 0xDFFF) {
            fail("lone surrogate");
          }
          append_utf8(scratch, c1);
          break;
        }
        default: fail("invalid escape");
      }
    }
    return scratch;
  }

  json value() {
    char c = peek();
    if ((c == '{' || c == '[') && depth_ >= kMaxDepth) fail("nesting too deep");
    DepthGuard guard(c == '{' || c == '[' ? &depth_ : nullptr);
    if (c == '{') {
      ++pos_;
      json obj = json::object();
      if (accept('}')) return obj;
      std::string scratch;
      do {
        std::string key(string(scratch));
        expect(':');
        obj[key] = value();
      } while (accept(','));
      expect('}');
      return obj;
    }
    if (c == '[') {
      ++pos_;
      json arr = json::array();
      if (accept(']')) return arr;
      do {
        arr.push_back(value());
      } while (accept(','));
      expect(']');
      return arr;
    }
    if (c == '"') {
      std::string scratch;
      return std::string(string(scratch));
    }
    if (literal("true")) return true;
    if (literal("false")) return false;
    if (literal("null")) return nullptr;
    return number();
  }

  int64_t integer() {
    skip_ws();
    const char* begin = s_.data() + pos_;
    char* end = nullptr;
    long long v = std::strtoll(begin, &end, 10);
    if (end == begin || *end == '.' || *end == 'e' || *end == 'E') fail("expected an integer");
    pos_ += static_cast<size_t>(end - begin);
    return v;
  }

 private:
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  json number() {
    const char* begin = s_.data() + pos_;
    size_t k = pos_;
    bool is_float = false;
    if (k < s_.size() && s_[k] == '-') ++k;
    while (k < s_.size() && ((s_[k] >= '0' && s_[k] <= '9') || s_[k] == '.' || s_[k] == 'e' ||
                             s_[k] == 'E' || s_[k] == '+' || s_[k] == '-')) {
      is_float = is_float || s_[k] == '.' || s_[k] == 'e' || s_[k] == 'E';
      ++k;
    }
    if (k == pos_) fail("unexpected character");
    std::string digits(begin, k - pos_);
    pos_ = k;
    char* end = nullptr;
    if (is_float) {
      double d = std::strtod(digits.c_str(), &end);
      if (*end) fail("invalid number");
      return d;
    }
    long long v = std::strtoll(digits.c_str(), &end, 10);
    if (*end) fail("invalid number");
    return static_cast<int64_t>(v);
  }

  char32_t hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    char32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_++];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) fail("invalid \\u escape");
      v = v * 16 + static_cast<char32_t>(d);
    }
    return v;
  }

  // Bounds the recursion on hostile input.
  static constexpr int kMaxDepth = 256;
  struct DepthGuard {
    int* depth;
    explicit DepthGuard(int* d) : depth(d) {
      if (depth) ++*depth;
    }
    ~DepthGuard() {
      if (depth) --*depth;
    }
  };

  std::string_view s_;
  const std::string& file_;
  size_t pos_ = 0;
  int depth_ = 0;
};

void read_vocab(Reader& r, TokenizerJson& out) {
  r.expect('{');
  if (r.accept('}')) return;
  std::string scratch;
  do {
    std::string_view token = r.string(scratch);
    r.expect(':');
    auto id = r.integer();
    if (id < 0 || id > INT32_MAX) r.fail("vocab id out of range");
    out.vocab_tokens.emplace_back(token);
    out.vocab_ids.push_back(static_cast<int>(id));
  } while (r.accept(','));
  r.expect('}');
}

void add_slice(MergeList& merges, std::string_view s, uint32_t* slot) {
  slot[0] = static_cast<uint32_t>(merges.chars.size());
  slot[1] = static_cast<uint32_t>(s.size());
  merges.chars.append(s);
}

// "a b" strings (older files) or ["a", "b"] pairs.
void read_merges(Reader& r, MergeList& merges) {
  if (r.peek() == 'n') {
    r.value();  // null
    return;
  }
  r.expect('[');
  if (r.accept(']')) return;
  std::string scratch;
  do {
    std::array<uint32_t, 4> slice{};
    if (r.peek() == '[') {
      r.expect('[');
      add_slice(merges, r.string(scratch), &slice[0]);
      r.expect(',');
      add_slice(merges, r.string(scratch), &slice[2]);
      r.expect(']');
    } else {
      std::string_view s = r.string(scratch);
      size_t space = s.find(' ');
      if (space == std::string_view::npos || s.find(' ', space + 1) != std::string_view::npos) {
        r.fail("merge '" + std::string(s) + "' is not two tokens");
      }
      add_slice(merges, s.substr(0, space), &slice[0]);
      add_slice(merges, s.substr(space + 1), &slice[2]);
    }
    merges.slices.push_back(slice);
  } while (r.accept(','));
  r.expect(']');
}

json read_model(Reader& r, TokenizerJson& out) {
  if (r.peek() != '{') return r.value();
  r.expect('{');
  json model = json::object();
  if (r.accept('}')) return model;
  std::string scratch;
  do {
    std::string key(r.string(scratch));
    r.expect(':');
    if (key == "vocab" && r.peek() == '{') {
      read_vocab(r, out);
      out.has_vocab = true;
    } else if (key == "merges") {
      read_merges(r, out.merges);
    } else {
      model[key] = r.value();
    }
  } while (r.accept(','));
  r.expect('}');
  return model;
}

}  // namespace

TokenizerJson read_tokenizer_json(std::string_view text, const std::string& file) {
  Reader r(text, file);
  TokenizerJson out;
  out.merges.chars.reserve(text.size() / 4);
  r.expect('{');
  out.root = json::object();
  if (!r.accept('}')) {
    std::string scratch;
    do {
      std::string key(r.string(scratch));
      r.expect(':');
      out.root[key] = key == "model" ? read_model(r, out) : r.value();
    } while (r.accept(','));
    r.expect('}');
  }
  if (!r.at_end()) r.fail("trailing characters after the JSON object");
  return out;
}

}  // namespace tessera::lm::tokenizer_detail
