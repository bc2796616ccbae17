// tokenizer.json "decoder" section: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace,
// WordPiece, BPEDecoder and Sequence.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tessera::lm::tokenizer_detail {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; the decoded text is their concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Throws std::runtime_error naming `file` and the type for an unsupported decoder.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec, const std::string& file);

}  // namespace tessera::lm::tokenizer_detail
