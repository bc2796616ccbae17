// tokenizer.json "normalizer" section: NFC/NFD/NFKC/NFKD, Lowercase, Prepend, Replace, Strip,
// StripAccents, BertNormalizer, ByteLevel and Sequence.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace tessera::lm::tokenizer_detail {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Throws std::runtime_error naming `file` and the type for an unsupported normalizer.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec, const std::string& file);

}  // namespace tessera::lm::tokenizer_detail
