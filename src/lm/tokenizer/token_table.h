// The model vocabulary: token strings by id, and an open-addressing index from string to id.
// Flat arrays keep loading a 250k-token vocabulary to a few allocations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::lm::tokenizer_detail {

class TokenTable {
 public:
  TokenTable() = default;
  // tokens[k] has id ids[k]; ids need not be dense. Throws naming `file` on a negative id.
  TokenTable(std::vector<std::string> tokens, const std::vector<int>& ids, const std::string& file);

  std::optional<int> find(std::string_view token) const {
    if (slots_.empty()) return std::nullopt;
    uint64_t h = hash(token);
    uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      uint64_t slot = slots_[i];
      if (slot == 0) return std::nullopt;
      if (static_cast<uint32_t>(slot >> 32) == tag) {
        int id = static_cast<int>(static_cast<uint32_t>(slot)) - 1;
        if (by_id_[static_cast<size_t>(id)] == token) return id;
      }
    }
  }
  // Null for an id outside the vocabulary.
  const std::string* token(int id) const {
    if (id < 0 || static_cast<size_t>(id) >= by_id_.size() || !present_[static_cast<size_t>(id)]) {
      return nullptr;
    }
    return &by_id_[static_cast<size_t>(id)];
  }
  // One past the largest id.
  size_t size() const { return by_id_.size(); }
  size_t count() const { return count_; }

 private:
  static uint64_t hash(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h ^ (h >> 29);
  }

  std::vector<std::string> by_id_;
  std::vector<char> present_;
  std::vector<uint64_t> slots_;  // (hash >> 32) << 32 | (id + 1); 0 = empty
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace tessera::lm::tokenizer_detail
