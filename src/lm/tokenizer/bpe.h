// Byte-pair encoding as the tokenizers library runs it: characters (or byte-fallback tokens)
// merged lowest rank first, leftmost first among equal ranks.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lm/tokenizer/model.h"
#include "lm/tokenizer/string_map.h"

namespace tessera::lm::tokenizer_detail {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class Bpe : public Model {
 public:
  // `merges` holds (left, right) token pairs in rank order.
  Bpe(StringIdMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options, const std::string& file);

  void tokenize(std::string_view word, std::vector<int>& out) const override;
  std::optional<int> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int id) const override;
  size_t vocab_size() const override { return id_to_token_.size(); }

 private:
  struct Merge {
    int rank;
    int new_id;
  };
  static uint64_t pair_key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  // The initial symbols of `word`: one per character, with byte fallback and unknown handling.
  void initial_symbols(std::string_view word, std::vector<int>& ids) const;
  void merge(std::vector<int>& ids) const;

  StringIdMap vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions options_;
  std::optional<int> unk_id_;
  std::array<int, 256> byte_ids_;  // id of "<0xXX>", or -1

  // Words seen before (short ones), shared by all threads.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>> cache_;
};

}  // namespace tessera::lm::tokenizer_detail
