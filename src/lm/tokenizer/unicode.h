// UTF-8 and Unicode character helpers with the semantics of Rust's char methods, which the
// tokenizers library uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::lm::tokenizer_detail {

// Decodes the code point at s[i] (s must be valid UTF-8) and advances i past it.
char32_t next_code_point(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t c);
// Length of the UTF-8 sequence that starts with byte b (1 for a stray continuation byte).
inline size_t utf8_length(unsigned char b) {
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

// Replaces every maximal invalid subsequence by U+FFFD (Rust's String::from_utf8_lossy).
std::string to_valid_utf8(std::string_view bytes);

bool is_whitespace(char32_t c);    // Unicode White_Space
bool is_word_char(char32_t c);     // regex \w: Alphabetic, Mark, Decimal_Number, Connector_Punctuation
bool is_numeric(char32_t c);       // general category N*
bool is_punctuation(char32_t c);   // ASCII punctuation or general category P*

}  // namespace tessera::lm::tokenizer_detail
