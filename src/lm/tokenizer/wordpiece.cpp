#include "lm/tokenizer/wordpiece.h"

#include <stdexcept>

#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

WordPiece::WordPiece(TokenTable vocab, std::string unk_token, std::string continuing_subword_prefix,
                     size_t max_input_chars_per_word)
    : vocab_(std::move(vocab)),
      unk_token_(std::move(unk_token)),
      prefix_(std::move(continuing_subword_prefix)),
      max_chars_(max_input_chars_per_word) {}

int WordPiece::unk_id() const {
  auto id = vocab_.find(unk_token_);
  if (!id) throw std::runtime_error("WordPiece unk_token '" + unk_token_ + "' is not in the vocab");
  return *id;
}

void WordPiece::tokenize(std::string_view word, std::vector<int>& out) const {
  size_t chars = 0;
  for (unsigned char b : word) chars += (b & 0xC0) != 0x80;
  if (chars > max_chars_) {
    out.push_back(unk_id());
    return;
  }
  std::vector<int> pieces;
  std::string candidate;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    std::optional<int> found;
    while (start < end) {
      candidate.assign(start > 0 ? prefix_ : "");
      candidate.append(word.substr(start, end - start));
      if ((found = vocab_.find(candidate))) break;
      // Drop the last character.
      do {
        --end;
      } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
    }
    if (!found) {
      out.push_back(unk_id());
      return;
    }
    pieces.push_back(*found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

}  // namespace tessera::lm::tokenizer_detail
