// tokenizer.json "model" section (BPE or WordPiece): the vocabulary and the algorithm that
// turns one pre-tokenized word into ids.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tessera::lm::tokenizer_detail {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `word` (non-empty) to `out`.
  virtual void tokenize(std::string_view word, std::vector<int>& out) const = 0;
  virtual std::optional<int> token_to_id(std::string_view token) const = 0;
  // Empty when `id` is not in the vocabulary.
  virtual const std::string* id_to_token(int id) const = 0;
  // One past the largest id.
  virtual size_t vocab_size() const = 0;
  // Number of tokens (the library numbers new added tokens from here).
  virtual size_t token_count() const = 0;
};

struct TokenizerJson;

// Builds the model from `data.root["model"]` and the vocab and merges read with it (which are
// moved out of `data`). Throws std::runtime_error naming `file` and the type for an
// unsupported model.
std::unique_ptr<Model> make_model(TokenizerJson& data, const std::string& file);

}  // namespace tessera::lm::tokenizer_detail
