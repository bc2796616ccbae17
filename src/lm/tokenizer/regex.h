// A compiled PCRE2 regex (JIT, UTF + UCP) with Oniguruma's (Ruby syntax) meaning of \s, \w, ^
// and $ (line anchors), as the tokenizers library compiles its patterns with Oniguruma.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::lm::tokenizer_detail {

class Regex {
 public:
  // Throws std::runtime_error naming the pattern and the position of a syntax error.
  explicit Regex(const std::string& pattern);
  // Non-overlapping matches, left to right, as byte ranges [start, end). Empty matches follow
  // Oniguruma's iteration rules (none right after the previous match).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct Code;
  std::shared_ptr<Code> code_;
};

}  // namespace tessera::lm::tokenizer_detail
