#include "lm/tokenizer/normalizer.h"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <vector>

#include "lm/tokenizer/byte_level.h"
#include "lm/tokenizer/json_util.h"
#include "lm/tokenizer/regex.h"
#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

// Rewrites text one code point at a time; emit(c, out) appends what c becomes.
template <typename Emit>
void map_code_points(std::string& text, Emit emit) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) emit(next_code_point(text, i), out);
  text = std::move(out);
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    // Every normalization form leaves ASCII unchanged.
    if (std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; })) return;
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                          static_cast<utf8proc_ssize_t>(text.size()), &out,
                          static_cast<utf8proc_option_t>(options_ | UTF8PROC_STABLE));
    if (n < 0) {
      throw std::runtime_error(std::string("unicode normalization failed: ") +
                               utf8proc_errmsg(n));
    }
    text.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    std::free(out);
  }

 private:
  int options_;
};

// Rust's char::to_lowercase, applied character by character (no final-sigma rule).
class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    map_code_points(text, [](char32_t c, std::string& out) {
      if (c < 0x80) {
        out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      } else if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
        out += "i\xCC\x87";
      } else {
        append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
      }
    });
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace : public Normalizer {
 public:
  Replace(std::optional<Regex> regex, std::string literal, std::string content)
      : regex_(std::move(regex)), literal_(std::move(literal)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    if (regex_) {
      matches = regex_->find_all(text);
    } else if (!literal_.empty()) {
      for (size_t at = text.find(literal_); at != std::string::npos;
           at = text.find(literal_, at + literal_.size())) {
        matches.emplace_back(at, at + literal_.size());
      }
    }
    if (matches.empty()) return;
    std::string out;
    out.reserve(text.size() + matches.size() * content_.size());
    size_t prev = 0;
    for (auto [start, end] : matches) {
      out.append(text, prev, start - prev);
      out += content_;
      prev = end;
    }
    out.append(text, prev);
    text = std::move(out);
  }

 private:
  std::optional<Regex> regex_;
  std::string literal_;
  std::string content_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t i = begin;
        if (!is_whitespace(next_code_point(text, i))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t i = start;
        if (!is_whitespace(next_code_point(text, i))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    map_code_points(text, [](char32_t c, std::string& out) {
      auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_MC && cat != UTF8PROC_CATEGORY_ME) {
        append_utf8(out, c);
      }
    });
  }
};

// BERT's normalizer: control characters dropped, whitespace to ' ', CJK ideographs spaced
// apart, then accents stripped and lowercasing.
class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese_chars, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_chars_(chinese_chars),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}
  void normalize(std::string& text) const override {
    map_code_points(text, [this](char32_t c, std::string& out) {
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || is_control(c)) return;
        if (c == '\t' || c == '\n' || c == '\r' || is_whitespace(c)) c = ' ';
      }
      if (chinese_chars_ && is_chinese(c)) {
        out += ' ';
        append_utf8(out, c);
        out += ' ';
      } else {
        append_utf8(out, c);
      }
    });
    if (strip_accents_) {
      UnicodeNormalizer(UTF8PROC_DECOMPOSE).normalize(text);
      map_code_points(text, [](char32_t c, std::string& out) {
        if (utf8proc_category(static_cast<utf8proc_int32_t>(c)) != UTF8PROC_CATEGORY_MN) append_utf8(out, c);
      });
    }
    if (lowercase_) Lowercase().normalize(text);
  }

 private:
  static bool is_control(char32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO ||
           cat == UTF8PROC_CATEGORY_CN;
  }
  static bool is_chinese(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }
  bool clean_text_, chinese_chars_, strip_accents_, lowercase_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = bytes_to_byte_level(text); }
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& spec, const std::string& file) {
  std::string type = get_string(spec, "type", file, "normalizer");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "BertNormalizer") {
    bool lowercase = spec.value("lowercase", true);
    auto accents = spec.find("strip_accents");
    bool strip_accents =
        accents != spec.end() && accents->is_boolean() ? accents->get<bool>() : lowercase;
    return std::make_unique<BertNormalizer>(spec.value("clean_text", true),
                                            spec.value("handle_chinese_chars", true),
                                            strip_accents, lowercase);
  }
  if (type == "Prepend") return std::make_unique<Prepend>(get_string(spec, "prepend", file, type));
  if (type == "Strip") {
    return std::make_unique<Strip>(spec.value("strip_left", true), spec.value("strip_right", true));
  }
  if (type == "Replace") {
    auto [regex, literal] = parse_pattern(spec, file, type);
    return std::make_unique<Replace>(std::move(regex), std::move(literal),
                                     get_string(spec, "content", file, type));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& step : get_array(spec, "normalizers", file, type)) {
      steps.push_back(make_normalizer(step, file));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  throw std::runtime_error(file + ": unsupported normalizer type '" + type + "'");
}

}  // namespace tessera::lm::tokenizer_detail
