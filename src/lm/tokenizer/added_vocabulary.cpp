#include "lm/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "lm/tokenizer/normalizer.h"
#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

char32_t last_char(std::string_view s) {
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return next_code_point(s, start);
}

// Start of the run of whitespace that ends `s`.
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!is_whitespace(next_code_point(s, i))) break;
    end = start;
  }
  return end;
}

// Length of the run of whitespace that starts `s`.
size_t leading_space_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t next = i;
    if (!is_whitespace(next_code_point(s, next))) break;
    i = next;
  }
  return i;
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view pattern, int token) {
  if (nodes.empty()) nodes.emplace_back();
  int node = 0;
  for (size_t k = 0; k < pattern.size(); ++k) {
    auto b = static_cast<unsigned char>(pattern[k]);
    int child = -1;
    if (node == 0) {
      child = root_children[b] - 1;
    } else {
      for (auto [byte, index] : nodes[node].children) {
        if (byte == b) child = index;
      }
    }
    if (child < 0) {
      child = static_cast<int>(nodes.size());
      nodes.emplace_back();
      if (node == 0) {
        root_children[b] = child + 1;
      } else {
        nodes[node].children.emplace_back(b, child);
      }
    }
    node = child;
  }
  // A later token with the same pattern replaces an earlier one, as in the library's map.
  nodes[node].token = token;
}

std::pair<int, size_t> AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos) const {
  int found = -1;
  size_t found_end = 0;
  int node = root_children[static_cast<unsigned char>(text[pos])] - 1;
  size_t k = pos + 1;
  while (node > 0) {
    if (nodes[node].token >= 0) {
      found = nodes[node].token;
      found_end = k;
    }
    if (k == text.size()) break;
    auto b = static_cast<unsigned char>(text[k]);
    int child = -1;
    for (auto [byte, index] : nodes[node].children) {
      if (byte == b) {
        child = index;
        break;
      }
    }
    node = child;
    ++k;
  }
  return {found, found_end};
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  raw_trie_.nodes.emplace_back();
  normalized_trie_.nodes.emplace_back();
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const AddedToken& t = tokens_[k];
    std::string pattern = t.content;
    if (t.normalized && normalizer) normalizer->normalize(pattern);
    patterns_.push_back(pattern);
    by_content_[t.content] = t.id;
    by_id_[t.id] = static_cast<int>(k);
    max_id_ = std::max(max_id_, t.id);
    if (pattern.empty()) continue;
    if (t.normalized) {
      normalized_trie_.insert(pattern, static_cast<int>(k));
      has_normalized_ = true;
    } else {
      raw_trie_.insert(pattern, static_cast<int>(k));
      has_raw_ = true;
    }
  }
}

std::vector<AddedSplit> AddedVocabulary::split(std::string_view text, bool normalized) const {
  const Trie& trie = normalized ? normalized_trie_ : raw_trie_;
  if (!(normalized ? has_normalized_ : has_raw_) || text.empty()) {
    return {{-1, 0, text.size()}};
  }
  std::vector<AddedSplit> splits;
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    auto [index, match_end] = trie.longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = match_end;
    pos = match_end;
    const AddedToken& token = tokens_[static_cast<size_t>(index)];
    if (token.single_word) {
      bool start_space = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      size_t after = stop;
      bool stop_space = stop == text.size() || !is_word_char(next_code_point(text, after));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_length(text.substr(stop));
    if (start_offset < start) splits.push_back({-1, start_offset, start});
    splits.push_back({token.id, start, stop});
    start_offset = stop;
  }
  if (start_offset != text.size()) splits.push_back({-1, start_offset, text.size()});
  return splits;
}

std::optional<int> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::decode_form(int id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &patterns_[static_cast<size_t>(it->second)];
}

bool AddedVocabulary::is_special_content(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return false;
  auto k = by_id_.find(it->second);
  return k != by_id_.end() && tokens_[static_cast<size_t>(k->second)].special;
}

bool AddedVocabulary::is_special_id(int id) const {
  auto it = by_id_.find(id);
  return it != by_id_.end() && tokens_[static_cast<size_t>(it->second)].special;
}

}  // namespace tessera::lm::tokenizer_detail
