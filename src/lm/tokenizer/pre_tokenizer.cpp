#include "lm/tokenizer/pre_tokenizer.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "lm/tokenizer/byte_level.h"
#include "lm/tokenizer/json_util.h"
#include "lm/tokenizer/split.h"
#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

// GPT-2's pre-tokenization regex, built into the ByteLevel pre-tokenizer.
constexpr const char* kByteLevelRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// \w+|[^\w\s]+ with Oniguruma's \w (Alphabetic, Mark, Decimal_Number, Connector_Punctuation).
constexpr const char* kWhitespaceRegex =
    R"([\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}]+|[^\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\s]+)";

void split_pieces(std::vector<PreToken>& pieces, const SplitPattern& pattern,
                  SplitBehavior behavior, bool invert) {
  std::vector<PreToken> out;
  out.reserve(pieces.size());
  for (auto& piece : pieces) {
    auto ranges = split(piece.text, pattern, behavior, invert);
    if (ranges.size() == 1 && ranges[0].first == 0 && ranges[0].second == piece.text.size()) {
      out.push_back(std::move(piece));
      continue;
    }
    for (auto [start, end] : ranges) {
      out.push_back({piece.text.substr(start, end - start), piece.at_origin && start == 0});
    }
  }
  pieces = std::move(out);
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    split_pieces(pieces, pattern_, behavior_, invert_);
  }

 private:
  SplitPattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        pattern_(use_regex ? std::optional(SplitPattern::regex(kByteLevelRegex)) : std::nullopt) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& piece : pieces) {
        if (piece.text[0] != ' ') piece.text.insert(0, 1, ' ');
      }
    }
    if (pattern_) split_pieces(pieces, *pattern_, SplitBehavior::Isolated, false);
    for (auto& piece : pieces) piece.text = bytes_to_byte_level(piece.text);
  }

 private:
  bool add_prefix_space_;
  std::optional<SplitPattern> pattern_;
};

enum class PrependScheme { Always, First, Never };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)),
        scheme_(scheme),
        split_(split),
        pattern_(SplitPattern::literal(replacement_)) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    for (auto& piece : pieces) {
      std::string replaced;
      replaced.reserve(piece.text.size());
      for (char c : piece.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced += c;
        }
      }
      bool starts = replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::Always ||
                      (scheme_ == PrependScheme::First && piece.at_origin))) {
        replaced.insert(0, replacement_);
      }
      piece.text = std::move(replaced);
    }
    if (split_) split_pieces(pieces, pattern_, SplitBehavior::MergedWithNext, false);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  SplitPattern pattern_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

PrependScheme parse_prepend_scheme(const json& spec, const std::string& file) {
  // Older files only carry add_prefix_space.
  if (spec.contains("add_prefix_space") && spec["add_prefix_space"].is_boolean() &&
      !spec["add_prefix_space"].get<bool>()) {
    return PrependScheme::Never;
  }
  std::string scheme = spec.value("prepend_scheme", "always");
  if (scheme == "always") return PrependScheme::Always;
  if (scheme == "first") return PrependScheme::First;
  if (scheme == "never") return PrependScheme::Never;
  throw std::runtime_error(file + ": Metaspace: unknown prepend_scheme '" + scheme + "'");
}

std::unique_ptr<PreTokenizer> make_split(SplitPattern pattern, SplitBehavior behavior,
                                         bool invert = false) {
  return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, invert);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& spec, const std::string& file) {
  std::string type = get_string(spec, "type", file, "pre_tokenizer");
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(spec.value("add_prefix_space", true),
                                       spec.value("use_regex", true));
  }
  if (type == "Split") {
    auto [regex, literal] = parse_pattern(spec, file, type);
    return make_split(SplitPattern::from(std::move(regex), std::move(literal)),
                      parse_split_behavior(get_string(spec, "behavior", file, type), file),
                      spec.value("invert", false));
  }
  if (type == "Metaspace") {
    return std::make_unique<Metaspace>(spec.value("replacement", "\xE2\x96\x81"),
                                       parse_prepend_scheme(spec, file), spec.value("split", true));
  }
  if (type == "Digits") {
    return make_split(SplitPattern::chars(is_numeric), spec.value("individual_digits", false)
                                                           ? SplitBehavior::Isolated
                                                           : SplitBehavior::Contiguous);
  }
  if (type == "Punctuation") {
    return make_split(SplitPattern::chars(is_punctuation),
                      parse_split_behavior(spec.value("behavior", "Isolated"), file));
  }
  if (type == "Whitespace") {
    return make_split(SplitPattern::regex(kWhitespaceRegex), SplitBehavior::Removed, true);
  }
  if (type == "WhitespaceSplit") {
    return make_split(SplitPattern::chars(is_whitespace), SplitBehavior::Removed);
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    steps.push_back(make_split(SplitPattern::chars(is_whitespace), SplitBehavior::Removed));
    steps.push_back(make_split(SplitPattern::chars(is_punctuation), SplitBehavior::Isolated));
    return std::make_unique<Sequence>(std::move(steps));
  }
  if (type == "CharDelimiterSplit") {
    std::string delimiter = get_string(spec, "delimiter", file, type);
    return make_split(SplitPattern::literal(delimiter), SplitBehavior::Removed);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const auto& step : get_array(spec, "pretokenizers", file, type)) {
      steps.push_back(make_pre_tokenizer(step, file));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  throw std::runtime_error(file + ": unsupported pre_tokenizer type '" + type + "'");
}

}  // namespace tessera::lm::tokenizer_detail
