#include "lm/tokenizer/byte_level.h"

#include <array>

#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

struct Tables {
  std::array<std::string, 256> to_chars;
  std::array<int, 512> to_byte;  // code point (all below 512) -> byte, or -1
  Tables() {
    to_byte.fill(-1);
    std::array<char32_t, 256> code{};
    std::array<bool, 256> direct{};
    for (int b = 0; b < 256; ++b) {
      direct[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      code[b] = direct[b] ? static_cast<char32_t>(b) : next++;
    }
    for (int b = 0; b < 256; ++b) {
      append_utf8(to_chars[b], code[b]);
      to_byte[code[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string bytes_to_byte_level(std::string_view text) {
  const auto& map = tables().to_chars;
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char b : text) out += map[b];
  return out;
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  const auto& map = tables().to_byte;
  size_t i = 0;
  while (i < token.size()) {
    char32_t c = next_code_point(token, i);
    if (c >= map.size() || map[c] < 0) return false;
    out += static_cast<char>(map[c]);
  }
  return true;
}

}  // namespace tessera::lm::tokenizer_detail
