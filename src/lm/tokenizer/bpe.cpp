#include "lm/tokenizer/bpe.h"

#include <cstdio>
#include <queue>
#include <stdexcept>

#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

constexpr size_t kCacheCapacity = 1 << 16;
constexpr size_t kCacheMaxWordBytes = 256;

}  // namespace

Bpe::Bpe(StringIdMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
         BpeOptions options, const std::string& file)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  int max_id = -1;
  for (const auto& [token, id] : vocab_) {
    if (id < 0) throw std::runtime_error(file + ": negative id for token '" + token + "'");
    max_id = std::max(max_id, id);
  }
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : vocab_) id_to_token_[static_cast<size_t>(id)] = token;

  size_t prefix_len = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  std::string merged;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end()) {
      throw std::runtime_error(file + ": merge '" + a + " " + b + "' uses a token not in the vocab");
    }
    merged.assign(a);
    merged.append(b, std::min(prefix_len, b.size()));
    auto im = vocab_.find(merged);
    if (im == vocab_.end()) {
      throw std::runtime_error(file + ": merge result '" + merged + "' is not in the vocab");
    }
    merges_[pair_key(ia->second, ib->second)] = {static_cast<int>(rank), im->second};
  }

  if (options_.unk_token) {
    auto it = vocab_.find(*options_.unk_token);
    if (it != vocab_.end()) unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = vocab_.find(std::string_view(name));
    byte_ids_[static_cast<size_t>(b)] = it == vocab_.end() ? -1 : it->second;
  }
}

std::optional<int> Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(int id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  const std::string& token = id_to_token_[static_cast<size_t>(id)];
  return token.empty() ? nullptr : &token;  // an id the vocabulary skips
}

void Bpe::initial_symbols(std::string_view word, std::vector<int>& ids) const {
  const bool affixes =
      !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
  std::string affixed;
  bool pending_unk = false;
  size_t i = 0;
  while (i < word.size()) {
    size_t start = i;
    next_code_point(word, i);
    std::string_view s = word.substr(start, i - start);
    if (affixes) {
      affixed.clear();
      if (start > 0) affixed += options_.continuing_subword_prefix;
      affixed += s;
      if (i == word.size()) affixed += options_.end_of_word_suffix;
      s = affixed;
    }
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      if (pending_unk) {
        ids.push_back(*unk_id_);
        pending_unk = false;
      }
      ids.push_back(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : s) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : s) ids.push_back(byte_ids_[b]);
        continue;
      }
    }
    if (options_.unk_token) {
      if (!unk_id_) {
        throw std::runtime_error("unk_token '" + *options_.unk_token + "' is not in the vocab");
      }
      if (pending_unk && !options_.fuse_unk) ids.push_back(*unk_id_);
      pending_unk = true;
    }
  }
  if (pending_unk) ids.push_back(*unk_id_);
}

void Bpe::merge(std::vector<int>& ids) const {
  if (ids.size() < 2) return;
  struct Candidate {
    int rank;
    int pos;
    int new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  const int n = static_cast<int>(ids.size());
  std::vector<int> prev(ids.size()), next(ids.size());
  std::vector<char> alive(ids.size(), 1);
  std::vector<Candidate> storage;
  storage.reserve(ids.size() * 2);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue(
      std::greater<>{}, std::move(storage));
  for (int k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  auto push_pair = [&](int left) {
    int right = next[left];
    if (right < 0) return;
    auto it = merges_.find(pair_key(ids[left], ids[right]));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int k = 0; k + 1 < n; ++k) push_pair(k);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    int right = next[top.pos];
    if (!alive[top.pos] || right < 0) continue;
    // Skip entries made stale by an earlier merge.
    auto it = merges_.find(pair_key(ids[top.pos], ids[right]));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    ids[top.pos] = top.new_id;
    alive[right] = 0;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    if (prev[top.pos] >= 0) push_pair(prev[top.pos]);
    push_pair(top.pos);
  }
  size_t w = 0;
  for (int k = 0; k >= 0; k = next[k]) ids[w++] = ids[k];
  ids.resize(w);
}

void Bpe::tokenize(std::string_view word, std::vector<int>& out) const {
  if (options_.ignore_merges) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  merge(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(ids));
  }
}

}  // namespace tessera::lm::tokenizer_detail
