// WordPiece (BERT): greedy longest-prefix matching, with a prefix marking word continuations;
// a word that cannot be covered becomes the unknown token.
#pragma once

#include <string>

#include "lm/tokenizer/model.h"
#include "lm/tokenizer/token_table.h"

namespace tessera::lm::tokenizer_detail {

class WordPiece : public Model {
 public:
  WordPiece(TokenTable vocab, std::string unk_token, std::string continuing_subword_prefix,
            size_t max_input_chars_per_word);

  void tokenize(std::string_view word, std::vector<int>& out) const override;
  std::optional<int> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }
  size_t token_count() const override { return vocab_.count(); }

 private:
  int unk_id() const;

  TokenTable vocab_;
  std::string unk_token_;
  std::string prefix_;
  size_t max_chars_;
};

}  // namespace tessera::lm::tokenizer_detail
