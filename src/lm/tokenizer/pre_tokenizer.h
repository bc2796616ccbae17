// tokenizer.json "pre_tokenizer" section: ByteLevel, Split, Metaspace, Digits, Punctuation,
// Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit and Sequence.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tessera::lm::tokenizer_detail {

// A piece of normalized text on its way to the model.
struct PreToken {
  std::string text;
  // Whether the piece begins at offset 0 of the input (Metaspace's "first" prepend scheme).
  bool at_origin;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces each piece by its (non-empty) sub-pieces.
  virtual void pre_tokenize(std::vector<PreToken>& pieces) const = 0;
};

// Throws std::runtime_error naming `file` and the type for an unsupported pre-tokenizer.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec,
                                                 const std::string& file);

}  // namespace tessera::lm::tokenizer_detail
