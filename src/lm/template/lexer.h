// Splits a template into text and tag tokens, applying Jinja's whitespace control:
// `-` markers, trim_blocks and lstrip_blocks (both on, as transformers configures Jinja).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja {

enum class TokenType {
  Text,
  VariableBegin,
  VariableEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Operator,
  End,
};

struct Token {
  TokenType type;
  std::string value;  // text, name, decoded string literal, number spelling or operator
  int line;
  int column;
};

// Throws TemplateError with the line and column of malformed input.
std::vector<Token> tokenize(std::string_view source);

std::string describe(const Token& token);

}  // namespace tessera::jinja
