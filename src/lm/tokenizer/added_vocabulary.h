// Added tokens (special or not): found in the input before normalization (or after it, for
// tokens marked "normalized") by leftmost-longest matching, with lstrip/rstrip/single_word.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lm/tokenizer/string_map.h"

namespace tessera::lm::tokenizer_detail {

class Normalizer;

struct AddedToken {
  int id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

// A piece of input: an added token's id, or text (id < 0) at [start, end).
struct AddedSplit {
  int id;
  size_t start;
  size_t end;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits `text` on the tokens that match before (normalized == false) or after
  // (normalized == true) normalization. Text pieces may be empty.
  std::vector<AddedSplit> split(std::string_view text, bool normalized) const;

  std::optional<int> token_to_id(std::string_view content) const;
  // The string the decoder sees for `id` (its normalized form for normalized tokens).
  const std::string* decode_form(int id) const;
  bool is_special_content(std::string_view content) const;
  bool is_special_id(int id) const;
  int max_id() const { return max_id_; }

 private:
  // A byte trie over the patterns; node 0 is the root.
  struct Trie {
    struct Node {
      int token = -1;  // index into tokens_
      std::vector<std::pair<unsigned char, int>> children;
    };
    std::vector<Node> nodes;
    std::array<int, 256> root_children{};
    void insert(std::string_view pattern, int token);
    // The longest pattern starting at text[pos]: (token index, end) or token -1.
    std::pair<int, size_t> longest_at(std::string_view text, size_t pos) const;
  };

  std::vector<AddedToken> tokens_;
  std::vector<std::string> patterns_;  // what is matched / decoded for each token
  StringIdMap by_content_;
  std::unordered_map<int, int> by_id_;  // id -> index into tokens_
  Trie raw_trie_, normalized_trie_;
  bool has_raw_ = false, has_normalized_ = false;
  int max_id_ = -1;
};

}  // namespace tessera::lm::tokenizer_detail
