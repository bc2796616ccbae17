#include "lm/tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>

#include "lm/tokenizer/byte_level.h"
#include "lm/tokenizer/json_util.h"
#include "lm/tokenizer/split.h"
#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

constexpr const char* kReplacementChar = "\xEF\xBF\xBD";

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  size_t prev = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, prev)) {
    out.append(s, prev, at - prev);
    out += to;
    prev = at + from.size();
  }
  out.append(s, prev);
  return out;
}

std::u32string to_chars(const std::string& s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) out += next_code_point(s, i);
  return out;
}

std::string to_utf8(std::u32string_view chars) {
  std::string out;
  for (char32_t c : chars) append_utf8(out, c);
  return out;
}

char32_t single_char(const std::string& s, const std::string& file, const char* section) {
  std::u32string chars = to_chars(s);
  if (chars.size() != 1) {
    throw std::runtime_error(file + ": " + section + " needs a single character, got '" + s + "'");
  }
  return chars[0];
}

class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& token : tokens) {
      size_t mark = bytes.size();
      if (!byte_level_to_bytes(token, bytes)) {
        bytes.resize(mark);
        bytes += token;
      }
    }
    tokens.assign(1, to_valid_utf8(bytes));
  }
};

class Metaspace : public Decoder {
 public:
  Metaspace(char32_t replacement, bool strip_first) : replacement_(replacement), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t t = 0; t < tokens.size(); ++t) {
      std::string out;
      const std::string& token = tokens[t];
      size_t i = 0;
      while (i < token.size()) {
        char32_t c = next_code_point(token, i);
        if (c != replacement_) {
          append_utf8(out, c);
        } else if (t != 0 || !strip_first_) {
          out += ' ';
        }
      }
      tokens[t] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  bool strip_first_;
};

class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t count = 0;
    auto flush = [&] {
      if (count == 0) return;
      if (to_valid_utf8(bytes) == bytes) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < count; ++k) out.emplace_back(kReplacementChar);
      }
      bytes.clear();
      count = 0;
    };
    for (auto& token : tokens) {
      int byte = parse_byte_token(token);
      if (byte >= 0) {
        bytes += static_cast<char>(byte);
        ++count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // The byte of a "<0xXX>" token, or -1.
  static int parse_byte_token(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const auto& t : tokens) joined += t;
    tokens.assign(1, std::move(joined));
  }
};

class Strip : public Decoder {
 public:
  Strip(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      std::u32string chars = to_chars(token);
      size_t begin = 0;
      while (begin < start_ && begin < chars.size() && chars[begin] == content_) ++begin;
      size_t end = chars.size();
      for (size_t k = 0; k < stop_ && end > begin && chars[end - 1] == content_; ++k) --end;
      token = to_utf8(std::u32string_view(chars).substr(begin, end - begin));
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(std::optional<SplitPattern> regex, std::string literal, std::string content)
      : regex_(std::move(regex)), literal_(std::move(literal)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      if (!regex_) {
        token = replace_all(token, literal_, content_);
        continue;
      }
      std::string out;
      for (const auto& seg : regex_->find_matches(token)) {
        if (seg.is_match) {
          out += content_;
        } else {
          out.append(token, seg.start, seg.end - seg.start);
        }
      }
      token = std::move(out);
    }
  }

 private:
  std::optional<SplitPattern> regex_;
  std::string literal_;
  std::string content_;
};

class WordPiece : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& token = tokens[i];
      if (i != 0) {
        if (token.compare(0, prefix_.size(), prefix_) == 0) {
          token.erase(0, prefix_.size());
        } else {
          token.insert(0, 1, ' ');
        }
      }
      if (cleanup_) token = cleanup(token);
    }
  }

 private:
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."},     {" ?", "?"},     {" !", "!"},   {" ,", ","},
        {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"},
        {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) s = replace_all(s, from, to);
    return s;
  }
  std::string prefix_;
  bool cleanup_;
};

class BpeSuffix : public Decoder {
 public:
  explicit BpeSuffix(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& spec, const std::string& file) {
  std::string type = get_string(spec, "type", file, "decoder");
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Metaspace") {
    bool strip_first = spec.value("prepend_scheme", "always") != "never";
    if (spec.contains("add_prefix_space") && spec["add_prefix_space"].is_boolean() &&
        !spec["add_prefix_space"].get<bool>()) {
      strip_first = false;
    }
    return std::make_unique<Metaspace>(
        single_char(spec.value("replacement", "\xE2\x96\x81"), file, "Metaspace decoder"),
        strip_first);
  }
  if (type == "Strip") {
    return std::make_unique<Strip>(single_char(get_string(spec, "content", file, type), file,
                                               "Strip decoder"),
                                   spec.value("start", size_t{0}), spec.value("stop", size_t{0}));
  }
  if (type == "Replace") {
    auto [regex, literal] = parse_pattern(spec, file, type);
    std::optional<SplitPattern> pattern;
    if (regex) pattern = SplitPattern::from(std::move(regex), "");
    return std::make_unique<Replace>(std::move(pattern), std::move(literal),
                                     get_string(spec, "content", file, type));
  }
  if (type == "WordPiece") {
    return std::make_unique<WordPiece>(spec.value("prefix", "##"), spec.value("cleanup", true));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeSuffix>(spec.value("suffix", "</w>"));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const auto& step : get_array(spec, "decoders", file, type)) {
      steps.push_back(make_decoder(step, file));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  throw std::runtime_error(file + ": unsupported decoder type '" + type + "'");
}

}  // namespace tessera::lm::tokenizer_detail
