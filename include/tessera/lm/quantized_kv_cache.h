// A KV cache that stores keys and values with affine group quantization (w ≈ scale·q + bias per
// group of group_size consecutive features of a head, q an unsigned bits-bit integer), as
// mlx-lm's QuantizedKVCache, and attends over them without dequantizing the cache while decoding
// (fast::quantized_kv_attention). Group sizes are any divisor of the head dimension (small heads,
// e.g. 8 or 16 features, need groups below MLX's 32), so the codes are fast::quantize_kv's rather
// than tessera::quantize's, which only takes groups of 32/64/128. Everything is lazy: storing and
// attending add nodes to the graph, the stores are written in place (slice_update) and grow by
// 256 rows.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tessera/lm/kv_cache.h"
#include "tessera/lm/model.h"

namespace tessera::lm {

// Throws std::invalid_argument unless bits is 4 or 8 and group_size >= 1.
void check_kv_quantization(int bits, int group_size);

class QuantizedKVCache : public KVCache {
 public:
  // Keeps float keys/values until the cache holds more than `start` tokens, then quantizes them.
  QuantizedKVCache(int bits, int group_size, int start = 0);

  // Stores keys/values and returns them dequantized (for callers that need plain arrays);
  // attention() is the path that reads the codes in place.
  std::pair<array, array> update_and_fetch(const array& keys, const array& values) override;
  // Stores keys/values [B, Hkv, T, D] and returns softmax(scale·q·Kᵀ + mask)·V for q [B, Hq, T, D]
  // (Hq a multiple of Hkv), in q's dtype.
  // With softcap, scores pass through softcap·tanh(s / softcap) first.
  array attention(const array& q, const array& keys, const array& values, float scale, const AttentionMask& mask,
                  std::optional<float> softcap = {});
  bool quantized() const { return quantized_; }

  int offset() const override { return offset_; }
  bool is_trimmable() const override { return true; }
  int trim(int n) override;
  // Float: [keys, values]. Quantized: [key codes, key scales, key biases, value codes, ...]
  // with codes uint8 [B, H, T, D·bits/8] and scales/biases float32 [B, H, T, D/group_size].
  std::vector<array> state() const override;
  void set_state(const std::vector<array>& state) override;
  std::map<std::string, std::string> meta_state() const override;
  void set_meta_state(const std::map<std::string, std::string>& meta) override;
  std::string name() const override { return "QuantizedKVCache"; }

  int bits() const { return bits_; }
  int group_size() const { return group_size_; }
  // Bytes of the stored keys and values (codes, scales and biases when quantized).
  size_t nbytes() const;

 private:
  // Codes, scales and biases [B, H, cap, ...]; rows past offset_ are room to grow.
  using Store = std::vector<array>;
  void store(const array& keys, const array& values);
  // Quantizes x [B, H, T, D] into rows [at, at + T), growing the store as needed.
  void write(Store& store, const array& x, int at) const;
  array dequantized(const Store& store) const;
  int row_bytes() const { return D_ * bits_ / 8; }
  int groups() const { return D_ / group_size_; }

  int bits_;
  int group_size_;
  int start_;
  bool quantized_ = false;
  int B_ = 0, H_ = 0, D_ = 0;
  int offset_ = 0;
  StandardKVCache float_cache_;
  Store keys_, values_;
};

// One QuantizedKVCache per layer of `model`.
Cache make_quantized_cache(const Model& model, int bits, int group_size, int start = 0);

}  // namespace tessera::lm
