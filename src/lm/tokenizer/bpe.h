// Byte-pair encoding as the tokenizers library runs it: characters (or byte-fallback tokens)
// merged lowest rank first, leftmost first among equal ranks.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lm/tokenizer/json_reader.h"
#include "lm/tokenizer/model.h"
#include "lm/tokenizer/string_map.h"
#include "lm/tokenizer/token_table.h"

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
  Bpe(TokenTable vocab, const MergeList& merges, BpeOptions options, const std::string& file);

  void tokenize(std::string_view word, std::vector<int>& out) const override;
  std::optional<int> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int id) const override;
  size_t vocab_size() const override { return vocab_.size(); }
  size_t token_count() const override { return vocab_.count(); }

 private:
  struct Merge {
    int rank;
    int new_id;
  };
  // Open addressing from a pair of ids to its merge: built once, probed for every pair.
  class PairMap {
   public:
    void reserve(size_t n);
    void insert_or_assign(int a, int b, Merge merge);
    const Merge* find(int a, int b) const {
      uint64_t key = pack(a, b);
      for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
        if (slots_[i].key == key) return &slots_[i].merge;
        if (slots_[i].key == kEmpty) return nullptr;
      }
    }

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    struct Slot {
      uint64_t key = kEmpty;
      Merge merge{};
    };
    static uint64_t pack(int a, int b) {
      return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    size_t slot_of(uint64_t key) const {
      return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
    }
    std::vector<Slot> slots_{1};
    size_t mask_ = 0;
    int shift_ = 63;
  };
  // The initial symbols of `word`: one per character, with byte fallback and unknown handling.
  void initial_symbols(std::string_view word, std::vector<int>& ids) const;
  void merge(std::vector<int>& ids) const;

  TokenTable vocab_;
  PairMap merges_;
  BpeOptions options_;
  std::optional<int> unk_id_;
  std::array<int, 256> byte_ids_;  // id of "<0xXX>", or -1

  // Words seen before (short ones), shared by all threads.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>> cache_;
};

}  // namespace tessera::lm::tokenizer_detail
