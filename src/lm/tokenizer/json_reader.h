// A fast JSON reader for tokenizer.json: the model's vocab and merges (hundreds of thousands of
// entries) are read straight into their final form; everything else becomes nlohmann::json.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>


namespace tessera::lm::tokenizer_detail {

// Merge rules as (left, right) slices of one character buffer, in rank order.
struct MergeList {
  std::string chars;
  std::vector<std::array<uint32_t, 4>> slices;  // left offset, left size, right offset, right size
  size_t size() const { return slices.size(); }
  std::string_view left(size_t k) const { return {chars.data() + slices[k][0], slices[k][1]}; }
  std::string_view right(size_t k) const { return {chars.data() + slices[k][2], slices[k][3]}; }
};

struct TokenizerJson {
  nlohmann::json root;  // with model.vocab and model.merges removed
  std::vector<std::string> vocab_tokens;
  std::vector<int> vocab_ids;
  MergeList merges;
  bool has_vocab = false;
};

// Throws std::runtime_error naming `file` and the byte offset of a syntax error.
TokenizerJson read_tokenizer_json(std::string_view text, const std::string& file);

}  // namespace tessera::lm::tokenizer_detail
