#include "tessera/lm/kv_cache.h"

#include <algorithm>
#include <stdexcept>

#include "tessera/ops.h"

namespace tessera::lm {

namespace {

void check_update(const char* cache, const array& keys, const array& values) {
  if (keys.ndim() != 4 || values.ndim() != 4) {
    throw std::invalid_argument(std::string("[") + cache +
                                "] keys and values must be [B, H, T, D] arrays.");
  }
  if (keys.shape(0) != values.shape(0) || keys.shape(1) != values.shape(1) ||
      keys.shape(2) != values.shape(2)) {
    throw std::invalid_argument(std::string("[") + cache +
                                "] keys and values disagree in batch, heads or tokens.");
  }
  if (keys.shape(2) < 1) {
    throw std::invalid_argument(std::string("[") + cache + "] An update needs at least one token.");
  }
}

// [.., start:stop, :] along the time axis of a [B, H, T, D] array.
array slice_time(const array& a, int64_t start, int64_t stop) {
  return slice(a, {0, 0, start, 0}, {a.shape(0), a.shape(1), stop, a.shape(3)});
}

// The rotating cache's bookkeeping runs the same buffer operations on two kinds of buffer:
// the key/value arrays, and a host-side record of the token position each slot holds (which
// is what the attention masks are computed from). One algorithm serves both, so the two can
// never disagree.
struct KVBuffers {
  array keys;
  array values;
};

int length(const KVBuffers& b) { return static_cast<int>(b.keys.shape(2)); }

KVBuffers slice_t(const KVBuffers& b, int start, int stop) {
  return {slice_time(b.keys, start, stop), slice_time(b.values, start, stop)};
}

KVBuffers concat_t(const std::vector<KVBuffers>& parts) {
  std::vector<array> keys;
  std::vector<array> values;
  for (const auto& p : parts) {
    keys.push_back(p.keys);
    values.push_back(p.values);
  }
  return {concatenate(keys, 2), concatenate(values, 2)};
}

KVBuffers write_t(const KVBuffers& b, int at, const KVBuffers& src) {
  auto write = [at](const array& dst, const array& update) {
    return slice_update(dst, update, {0, 0, at, 0},
                        {dst.shape(0), dst.shape(1), at + update.shape(2), dst.shape(3)});
  };
  return {write(b.keys, src.keys), write(b.values, src.values)};
}

KVBuffers blank_t(const KVBuffers& like, int n) {
  auto blank = [n](const array& a) { return zeros({a.shape(0), a.shape(1), n, a.shape(3)}, a.dtype()); };
  return {blank(like.keys), blank(like.values)};
}

// The position record: the token position each slot holds (-1 for a slot not yet written).
using Positions = std::vector<int>;

int length(const Positions& p) { return static_cast<int>(p.size()); }

Positions slice_t(const Positions& p, int start, int stop) {
  return Positions(p.begin() + start, p.begin() + stop);
}

Positions concat_t(const std::vector<Positions>& parts) {
  Positions out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Positions write_t(Positions p, int at, const Positions& src) {
  std::copy(src.begin(), src.end(), p.begin() + at);
  return p;
}

Positions blank_t(const Positions&, int n) { return Positions(n, -1); }

Positions position_range(int start, int count) {
  Positions p(count);
  for (int i = 0; i < count; ++i) p[i] = start + i;
  return p;
}

struct RotatingLimits {
  int max_size;
  int keep;
  int step;
};

// The buffer in temporal order, cut to what has been written.
template <class Buffer>
Buffer temporal_order(const Buffer& v, int idx, int offset, int keep) {
  if (idx == length(v)) return v;
  if (idx < offset) {
    return concat_t({slice_t(v, 0, keep), slice_t(v, idx, length(v)), slice_t(v, keep, idx)});
  }
  return slice_t(v, 0, idx);
}

// Drops trim_size tokens after the first `keep`, then appends `append`.
template <class Buffer>
Buffer trim_front(int trim_size, const Buffer& v, int keep, const Buffer* append) {
  std::vector<Buffer> parts;
  if (trim_size > 0) {
    parts = {slice_t(v, 0, keep), slice_t(v, trim_size + keep, length(v))};
  } else {
    parts = {v};
  }
  if (append) parts.push_back(*append);
  return concat_t(parts);
}

// Several tokens at once: rebuild in temporal order keeping max_size - 1 old tokens, so that
// each new token has at least max_size tokens of context.
template <class Buffer>
Buffer update_concat(std::optional<Buffer>& buf, int& offset, int& idx, const Buffer& incoming,
                     const RotatingLimits& lim) {
  if (!buf) {
    buf = incoming;
  } else {
    Buffer ordered = temporal_order(*buf, idx, offset, lim.keep);
    int trim_size = length(ordered) - lim.max_size + 1;
    buf = trim_front(trim_size, ordered, lim.keep, &incoming);
  }
  offset += length(incoming);
  idx = length(*buf);
  return *buf;
}

// One token: grow up to max_size, then overwrite the oldest slot after the kept prefix.
template <class Buffer>
Buffer update_in_place(std::optional<Buffer>& buf, int& offset, int& idx, const Buffer& incoming,
                       const RotatingLimits& lim) {
  int prev = offset;
  if (!buf || (prev >= length(*buf) && length(*buf) < lim.max_size)) {
    Buffer fresh = blank_t(incoming, std::min(lim.step, lim.max_size - prev));
    buf = buf ? concat_t({*buf, fresh}) : fresh;
    idx = prev;
  }
  int trim_size = length(*buf) - lim.max_size;
  if (trim_size > 0) {
    buf = trim_front<Buffer>(trim_size, *buf, lim.keep, nullptr);
    idx = lim.max_size;
  }
  if (idx == lim.max_size) idx = lim.keep;
  buf = write_t(*buf, idx, incoming);
  offset += length(incoming);
  idx += length(incoming);
  if (offset < lim.max_size) return slice_t(*buf, 0, offset);
  return *buf;
}

template <class Buffer>
Buffer rotating_update(std::optional<Buffer>& buf, int& offset, int& idx, const Buffer& incoming,
                       const RotatingLimits& lim) {
  if (length(incoming) == 1) return update_in_place(buf, offset, idx, incoming, lim);
  return update_concat(buf, offset, idx, incoming, lim);
}

int parse_int(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) {
    throw std::invalid_argument("[RotatingKVCache] Cache metadata lacks '" + key + "'.");
  }
  try {
    size_t used = 0;
    int v = std::stoi(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument(key);
    return v;
  } catch (const std::exception&) {
    throw std::invalid_argument("[RotatingKVCache] Cache metadata '" + key + "' is not an integer: '" +
                                it->second + "'.");
  }
}

void check_state(const char* cache, const std::vector<array>& state) {
  if (state.size() != 2) {
    throw std::invalid_argument(std::string("[") + cache + "] A cache state is [keys, values].");
  }
  check_update(cache, state[0], state[1]);
}

}  // namespace

array create_causal_mask(int T, int offset, std::optional<int> window) {
  array keys = reshape(arange(0, offset + T), {1, offset + T});
  array queries = reshape(arange(offset, offset + T), {T, 1});
  array mask = greater_equal(queries, keys);
  if (window) mask = logical_and(mask, less(queries, add(keys, array(*window))));
  return mask;
}

AttentionMask create_attention_mask(int T, int offset, std::optional<int> window) {
  if (window && offset + T > *window) return {"", create_causal_mask(T, offset, window)};
  if (T == 1) return {"", std::nullopt};
  return {"causal", std::nullopt};
}

// ---- KVCache ----

AttentionMask KVCache::make_mask(int T, std::optional<int> window) const {
  return create_attention_mask(T, offset(), window);
}

bool KVCache::is_trimmable() const { return false; }

int KVCache::trim(int) { return 0; }

std::map<std::string, std::string> KVCache::meta_state() const { return {}; }

void KVCache::set_meta_state(const std::map<std::string, std::string>& meta) {
  if (!meta.empty()) {
    throw std::invalid_argument("[" + name() + "] This cache takes no metadata, got " +
                                std::to_string(meta.size()) + " entries.");
  }
}

// ---- StandardKVCache ----

std::pair<array, array> StandardKVCache::update_and_fetch(const array& keys, const array& values) {
  check_update("KVCache", keys, values);
  int prev = offset_;
  int T = static_cast<int>(keys.shape(2));
  if (!keys_ || prev + T > keys_->shape(2)) {
    int n_steps = (step + T - 1) / step;
    auto blank = [n_steps](const array& like) {
      return zeros({like.shape(0), like.shape(1), int64_t{n_steps} * step, like.shape(3)}, like.dtype());
    };
    array new_k = blank(keys);
    array new_v = blank(values);
    if (keys_) {
      // Storage beyond the offset (left by a trim) is dropped before growing.
      array old_k = prev % step != 0 ? slice_time(*keys_, 0, prev) : *keys_;
      array old_v = prev % step != 0 ? slice_time(*values_, 0, prev) : *values_;
      keys_ = concatenate({old_k, new_k}, 2);
      values_ = concatenate({old_v, new_v}, 2);
    } else {
      keys_ = new_k;
      values_ = new_v;
    }
  }
  offset_ += T;
  KVBuffers stored = write_t(KVBuffers{*keys_, *values_}, prev, KVBuffers{keys, values});
  keys_ = stored.keys;
  values_ = stored.values;
  return {slice_time(*keys_, 0, offset_), slice_time(*values_, 0, offset_)};
}

int StandardKVCache::trim(int n) {
  n = std::clamp(n, 0, offset_);
  offset_ -= n;
  return n;
}

int StandardKVCache::capacity() const { return keys_ ? static_cast<int>(keys_->shape(2)) : 0; }

std::vector<array> StandardKVCache::state() const {
  if (!keys_) return {};
  if (offset_ == keys_->shape(2)) return {*keys_, *values_};
  return {slice_time(*keys_, 0, offset_), slice_time(*values_, 0, offset_)};
}

void StandardKVCache::set_state(const std::vector<array>& state) {
  check_state("KVCache", state);
  keys_ = state[0];
  values_ = state[1];
  offset_ = static_cast<int>(state[0].shape(2));
}

// ---- RotatingKVCache ----

RotatingKVCache::RotatingKVCache(int max_size, int keep) : max_size_(max_size), keep_(keep) {
  if (keep < 0 || max_size <= keep) {
    throw std::invalid_argument("[RotatingKVCache] The maximum size (" + std::to_string(max_size) +
                                ") must exceed the number of kept tokens (" + std::to_string(keep) + ").");
  }
}

std::pair<array, array> RotatingKVCache::update_and_fetch(const array& keys, const array& values) {
  check_update("RotatingKVCache", keys, values);
  RotatingLimits lim{max_size_, keep_, step};
  int T = static_cast<int>(keys.shape(2));
  int pos_offset = offset_;
  int pos_idx = idx_;
  rotating_update(positions_, pos_offset, pos_idx, position_range(offset_, T), lim);
  std::optional<KVBuffers> kv;
  if (keys_) kv = KVBuffers{*keys_, *values_};
  KVBuffers fetched = rotating_update(kv, offset_, idx_, KVBuffers{keys, values}, lim);
  keys_ = kv->keys;
  values_ = kv->values;
  return {fetched.keys, fetched.values};
}

AttentionMask RotatingKVCache::make_mask(int T, std::optional<int> window) const {
  // Simulate the update on the position record to learn which token each returned key holds.
  std::optional<Positions> positions = positions_;
  int offset = offset_;
  int idx = idx_;
  Positions fetched = rotating_update(positions, offset, idx, position_range(offset_, T),
                                      RotatingLimits{max_size_, keep_, step});
  // A query at position p sees key position k when k <= p, k is inside the layer's window, and
  // k is one of the tokens a one-token-at-a-time run would still hold: the first `keep` or the
  // last max_size - keep.
  int recent = max_size_ - keep_;
  auto visible = [&](int p, int k) {
    return k <= p && (!window || k > p - *window) && (k < keep_ || k > p - recent);
  };
  int last = offset_ + T - 1;
  int total = length(fetched);
  bool causal_enough = true;
  for (int j = 0; j < total && causal_enough; ++j) {
    int k = fetched[j];
    bool is_new = j >= total - T;
    causal_enough = is_new ? (T == 1 || k == offset_ + (j - (total - T))) : (k < offset_ && visible(last, k));
  }
  if (causal_enough) {
    return T == 1 ? AttentionMask{"", std::nullopt} : AttentionMask{"causal", std::nullopt};
  }
  array k = reshape(array(fetched, {total}, int32), {1, total});
  array p = reshape(arange(offset_, offset_ + T), {T, 1});
  array mask = less_equal(k, p);
  if (window) mask = logical_and(mask, greater(k, subtract(p, array(*window))));
  mask = logical_and(mask, logical_or(less(k, array(keep_)), greater(k, subtract(p, array(recent)))));
  return {"", mask};
}

int RotatingKVCache::trim(int n) {
  if (!is_trimmable()) return 0;
  n = std::clamp(n, 0, offset_);
  offset_ -= n;
  idx_ -= n;
  return n;
}

std::vector<array> RotatingKVCache::state() const {
  if (!keys_) return {};
  if (offset_ < keys_->shape(2)) return {slice_time(*keys_, 0, offset_), slice_time(*values_, 0, offset_)};
  return {*keys_, *values_};
}

void RotatingKVCache::set_state(const std::vector<array>& state) {
  check_state("RotatingKVCache", state);
  keys_ = state[0];
  values_ = state[1];
  rebuild_positions();
}

std::map<std::string, std::string> RotatingKVCache::meta_state() const {
  return {{"keep", std::to_string(keep_)},
          {"max_size", std::to_string(max_size_)},
          {"offset", std::to_string(offset_)},
          {"idx", std::to_string(idx_)}};
}

void RotatingKVCache::set_meta_state(const std::map<std::string, std::string>& meta) {
  int keep = parse_int(meta, "keep");
  int max_size = parse_int(meta, "max_size");
  int offset = parse_int(meta, "offset");
  int idx = parse_int(meta, "idx");
  if (keep < 0 || max_size <= keep || offset < 0 || idx < 0) {
    throw std::invalid_argument("[RotatingKVCache] Inconsistent cache metadata (keep " + std::to_string(keep) +
                                ", max_size " + std::to_string(max_size) + ", offset " +
                                std::to_string(offset) + ", idx " + std::to_string(idx) + ").");
  }
  keep_ = keep;
  max_size_ = max_size;
  offset_ = offset;
  idx_ = idx;
  rebuild_positions();
}

// The position record follows from offset and idx: a buffer written in temporal order holds
// the kept prefix then the most recent tokens; a rotated one holds them in ring order with the
// oldest at idx.
void RotatingKVCache::rebuild_positions() {
  if (!keys_) {
    positions_.reset();
    return;
  }
  int len = static_cast<int>(keys_->shape(2));
  Positions p(len);
  if (offset_ <= len) {
    for (int s = 0; s < len; ++s) p[s] = s < offset_ ? s : -1;
  } else if (idx_ >= len) {
    for (int s = 0; s < len; ++s) p[s] = s < keep_ ? s : offset_ - (len - s);
  } else {
    int ring = len - keep_;
    for (int s = 0; s < len; ++s) {
      p[s] = s < keep_ ? s : offset_ - 1 - (((idx_ - 1 - s) % ring) + ring) % ring;
    }
  }
  positions_ = p;
}

}  // namespace tessera::lm
