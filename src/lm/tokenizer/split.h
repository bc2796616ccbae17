// Splitting a string on a pattern with one of the tokenizers library's delimiter behaviours;
// shared by the Split, Digits, Punctuation, Whitespace and Metaspace pre-tokenizers.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lm/tokenizer/regex.h"

namespace tessera::lm::tokenizer_detail {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Parses "Removed", "Isolated", ... ; throws naming `where` for an unknown name.
SplitBehavior parse_split_behavior(const std::string& name, const std::string& where);

struct Segment {
  size_t start;
  size_t end;
  bool is_match;
};

// What a split looks for: a regex, a literal string, or a class of characters (each matching
// character is a match of its own).
class SplitPattern {
 public:
  static SplitPattern regex(const std::string& pattern);
  static SplitPattern literal(std::string text);
  static SplitPattern chars(std::function<bool(char32_t)> predicate);
  // A compiled regex when given, else the literal.
  static SplitPattern from(std::optional<Regex> regex, std::string literal);

  // Covers `text` with alternating matched / unmatched segments.
  std::vector<Segment> find_matches(std::string_view text) const;

 private:
  std::optional<Regex> regex_;
  std::string literal_;
  std::function<bool(char32_t)> predicate_;
};

// The non-empty pieces [start, end) of `text` after applying `behavior` to the matches.
std::vector<std::pair<size_t, size_t>> split(std::string_view text, const SplitPattern& pattern,
                                             SplitBehavior behavior, bool invert = false);

}  // namespace tessera::lm::tokenizer_detail
