#include "lm/tokenizer/token_table.h"

#include <algorithm>
#include <stdexcept>

namespace tessera::lm::tokenizer_detail {

TokenTable::TokenTable(std::vector<std::string> tokens, const std::vector<int>& ids,
                       const std::string& file) {
  int max_id = -1;
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0) throw std::runtime_error(file + ": negative id for token '" + tokens[k] + "'");
    max_id = std::max(max_id, ids[k]);
  }
  by_id_.resize(static_cast<size_t>(max_id + 1));
  present_.assign(by_id_.size(), 0);
  size_t capacity = 16;
  while (capacity < 2 * tokens.size()) capacity *= 2;
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (size_t k = 0; k < tokens.size(); ++k) {
    auto id = static_cast<size_t>(ids[k]);
    if (present_[id]) continue;  // a second token with the same id is not reachable by id
    uint64_t h = hash(tokens[k]);
    size_t i = h & mask_;
    bool duplicate = false;
    while (slots_[i] != 0) {
      int other = static_cast<int>(static_cast<uint32_t>(slots_[i])) - 1;
      if (by_id_[static_cast<size_t>(other)] == tokens[k]) {
        duplicate = true;  // JSON objects keep the last value of a repeated key
        slots_[i] = (h >> 32 << 32) | (id + 1);
        present_[static_cast<size_t>(other)] = 0;
        break;
      }
      i = (i + 1) & mask_;
    }
    if (!duplicate) slots_[i] = (h >> 32 << 32) | (id + 1);
    by_id_[id] = std::move(tokens[k]);
    present_[id] = 1;
    if (!duplicate) ++count_;
  }
}

}  // namespace tessera::lm::tokenizer_detail
