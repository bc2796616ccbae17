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

void Bpe::PairMap::reserve(size_t n) {
  size_t capacity = 2;
  int bits = 1;
  while (capacity < 2 * n) {
    capacity *= 2;
    ++bits;
  }
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64 - bits;
}

void Bpe::PairMap::insert_or_assign(int a, int b, Merge merge) {
  uint64_t key = pack(a, b);
  size_t i = slot_of(key);
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
  slots_[i] = {key, merge};
}

Bpe::Bpe(TokenTable vocab, const MergeList& merges, BpeOptions options, const std::string& file)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  size_t prefix_len = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  std::string merged;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    std::string_view a = merges.left(rank), b = merges.right(rank);
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (!ia || !ib) {
      throw std::runtime_error(file + ": merge '" + std::string(a) + " " + std::string(b) +
                               "' uses a token not in the vocab");
    }
    merged.assign(a);
    merged.append(b.substr(std::min(prefix_len, b.size())));
    auto im = vocab_.find(merged);
    if (!im) {
      throw std::runtime_error(file + ": merge result '" + merged + "' is not in the vocab");
    }
    merges_.insert_or_assign(*ia, *ib, {static_cast<int>(rank), *im});
  }

  if (options_.unk_token) {
    unk_id_ = vocab_.find(*options_.unk_token);
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[static_cast<size_t>(b)] = vocab_.find(name).value_or(-1);
  }
}

std::optional<int> Bpe::token_to_id(std::string_view token) const {
  return vocab_.find(token);
}

const std::string* Bpe::id_to_token(int id) const {
  return vocab_.token(id);
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
    if (auto id = vocab_.find(s)) {
      if (pending_unk) {
        ids.push_back(*unk_id_);
        pending_unk = false;
      }
      ids.push_back(*id);
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
    if (const Merge* m = merges_.find(ids[left], ids[right])) queue.push({m->rank, left, m->new_id});
  };
  for (int k = 0; k + 1 < n; ++k) push_pair(k);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    int right = next[top.pos];
    if (!alive[top.pos] || right < 0) continue;
    // Skip entries made stale by an earlier merge.
    const Merge* m = merges_.find(ids[top.pos], ids[right]);
    if (!m || m->new_id != top.new_id) continue;
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
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
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
