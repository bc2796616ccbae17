// The loaded tokenizer shared by Tokenizer copies and their streaming detokenizers: either a
// tokenizer.json pipeline or a SentencePiece model, plus what tokenizer_config.json adds.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lm/tokenizer/added_vocabulary.h"
#include "lm/tokenizer/decoder.h"
#include "lm/tokenizer/model.h"
#include "lm/tokenizer/normalizer.h"
#include "lm/tokenizer/post_processor.h"
#include "lm/tokenizer/pre_tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace tessera::lm::tokenizer_detail {

// The tokenizer.json pipeline.
struct Pipeline {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;

  static std::unique_ptr<Pipeline> from_json_text(const std::string& text, const std::string& file);
  // Without special tokens; `text` must be valid UTF-8.
  void encode(std::string_view text, std::vector<int>& ids) const;
  std::string decode(const std::vector<int>& ids, bool skip_special_tokens) const;
  std::optional<std::string> id_to_token(int id) const;

 private:
  void encode_normalized(std::string_view text, bool at_origin, std::vector<int>& ids) const;
};

struct TokenizerImpl {
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sentencepiece;

  std::string bos_token, eos_token, chat_template;
  // From tokenizer_config.json; apply when the tokenizer itself adds no special tokens.
  bool add_bos_token = false;
  bool add_eos_token = false;

  TokenizerImpl();
  ~TokenizerImpl();

  std::vector<int> encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(const std::vector<int>& ids, bool skip_special_tokens) const;
  std::optional<std::string> id_to_token(int id) const;
  std::optional<int> token_to_id(const std::string& token) const;
  size_t vocab_size() const;
  bool is_special(int id) const;
};

}  // namespace tessera::lm::tokenizer_detail
