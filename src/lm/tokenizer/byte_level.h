// GPT-2's reversible byte <-> printable character mapping used by byte-level BPE.
#pragma once

#include <string>
#include <string_view>

namespace tessera::lm::tokenizer_detail {

// Maps every byte of `text` to its character.
std::string bytes_to_byte_level(std::string_view text);
// Inverse of bytes_to_byte_level for one token; false when `token` holds a character that is
// not in the mapping (then `out` is unspecified).
bool byte_level_to_bytes(std::string_view token, std::string& out);

}  // namespace tessera::lm::tokenizer_detail
