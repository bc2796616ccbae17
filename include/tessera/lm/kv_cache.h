// Key/value caches for autoregressive attention, modelled on mlx-lm's KVCache and
// RotatingKVCache. A model layer asks its cache for the attention mask of the next T query
// tokens, then hands it the new keys/values and attends over what the cache returns.
#pragma once

#include "tessera/array.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tessera::lm {

// What fast::scaled_dot_product_attention takes: mode "causal", or mode "" with an optional
// explicit boolean mask [T, T_total] (true = attend). Mode "" without a mask attends to all.
struct AttentionMask {
  std::string mode;
  std::optional<array> mask;
};

// The mask for T queries at absolute positions offset..offset+T-1 over keys at positions
// 0..offset+T-1 (the layout of a cache that keeps everything). `window`: query i sees keys j
// with i - window < j <= i. An explicit mask only where "causal" is not enough; none at all
// for one query that may see every key.
AttentionMask create_attention_mask(int T, int offset, std::optional<int> window = {});

// The explicit boolean causal mask [T, offset + T] behind create_attention_mask.
array create_causal_mask(int T, int offset, std::optional<int> window = {});

class KVCache {
 public:
  virtual ~KVCache() = default;

  // keys/values [B, Hkv, T_new, D]: stores them and returns what attention must read,
  // [B, Hkv, T_kept, D] (for a rotating cache, the kept window).
  virtual std::pair<array, array> update_and_fetch(const array& keys, const array& values) = 0;

  // Tokens seen so far = the position of the next token.
  virtual int offset() const = 0;
  // For a cache of sequences at different positions (a left-padded batch): the position of each
  // row's next token, int32 [B]; rotary embeddings then rotate each row by its own. None when
  // every row is at offset().
  virtual std::optional<array> row_offsets() const { return std::nullopt; }

  // The mask for the next T query tokens; call before update_and_fetch.
  virtual AttentionMask make_mask(int T, std::optional<int> window) const;

  virtual bool is_trimmable() const;
  // Drops the last n tokens; returns how many were dropped.
  virtual int trim(int n);

  // For prompt cache files: keys and values cut to what the cache holds, and the class's
  // bookkeeping as strings. set_state/set_meta_state restore a cache from them.
  virtual std::vector<array> state() const = 0;
  virtual void set_state(const std::vector<array>& state) = 0;
  virtual std::map<std::string, std::string> meta_state() const;
  virtual void set_meta_state(const std::map<std::string, std::string>& meta);
  // The class name written to prompt cache files ("KVCache", "RotatingKVCache").
  virtual std::string name() const = 0;

  bool empty() const { return offset() == 0; }
};

// Keeps every token. Storage grows along T in steps of 256 positions; new keys/values are
// written in place, so a decode step does not copy the cache.
class StandardKVCache : public KVCache {
 public:
  static constexpr int step = 256;

  std::pair<array, array> update_and_fetch(const array& keys, const array& values) override;
  int offset() const override { return offset_; }
  bool is_trimmable() const override { return true; }
  int trim(int n) override;
  std::vector<array> state() const override;
  void set_state(const std::vector<array>& state) override;
  std::string name() const override { return "KVCache"; }

  // Positions allocated (>= offset).
  int capacity() const;

 private:
  std::optional<array> keys_;
  std::optional<array> values_;
  int offset_ = 0;
};

// Keeps the first `keep` tokens and the most recent max_size - keep tokens. One-token updates
// overwrite the oldest slot in place (so the stored order rotates); multi-token updates
// rebuild the buffer in temporal order with max_size - 1 old tokens plus the new ones, so
// every new token sees at least max_size tokens of context.
class RotatingKVCache : public KVCache {
 public:
  static constexpr int step = 256;

  explicit RotatingKVCache(int max_size, int keep = 4);

  std::pair<array, array> update_and_fetch(const array& keys, const array& values) override;
  int offset() const override { return offset_; }
  AttentionMask make_mask(int T, std::optional<int> window) const override;
  bool is_trimmable() const override { return offset_ < max_size_; }
  int trim(int n) override;
  std::vector<array> state() const override;
  void set_state(const std::vector<array>& state) override;
  std::map<std::string, std::string> meta_state() const override;
  void set_meta_state(const std::map<std::string, std::string>& meta) override;
  std::string name() const override { return "RotatingKVCache"; }

  int max_size() const { return max_size_; }
  int keep() const { return keep_; }

 private:
  void rebuild_positions();

  int max_size_;
  int keep_;
  std::optional<array> keys_;
  std::optional<array> values_;
  int offset_ = 0;
  int idx_ = 0;  // next write position in the buffer
  // The token position each buffer slot holds, kept on the host alongside the arrays; the
  // masks are computed from it.
  std::optional<std::vector<int>> positions_;
};

}  // namespace tessera::lm
