#include "tessera/lm/quantized_kv_cache.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "tessera/fast.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace {

int parse_meta(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) throw std::invalid_argument("[QuantizedKVCache] Cache metadata lacks '" + key + "'.");
  try {
    return std::stoi(it->second);
  } catch (const std::exception&) {
    throw std::invalid_argument("[QuantizedKVCache] Cache metadata '" + key + "' is not an integer.");
  }
}

// Rows [0, n) of a store's arrays [B, H, cap, ...].
array rows_of(const array& a, int n) { return slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), n, a.shape(3)}); }

}  // namespace

void check_kv_quantization(int bits, int group_size) {
  if (bits != 4 && bits != 8) {
    throw std::invalid_argument("KV cache quantization supports 4 or 8 bits, got " + std::to_string(bits) + ".");
  }
  if (group_size < 1) throw std::invalid_argument("The KV cache group size must be >= 1, got " + std::to_string(group_size) + ".");
}

QuantizedKVCache::QuantizedKVCache(int bits, int group_size, int start)
    : bits_(bits), group_size_(group_size), start_(start) {
  check_kv_quantization(bits, group_size);
  if (start < 0) throw std::invalid_argument("[QuantizedKVCache] The quantization start must be >= 0.");
}

// Rows [at, at + T) of the store take x's codes; the store grows in steps of 256 rows (keeping
// its first `at`) so that decoding writes in place.
void QuantizedKVCache::write(Store& s, const array& x, int at) const {
  const std::vector<array> codes = fast::quantize_kv(x, bits_, group_size_);
  const int T = static_cast<int>(x.shape(2));
  if (s.empty() || at + T > s[0].shape(2)) {
    const int cap = (at + T + 255) / 256 * 256;
    Store grown;
    for (size_t i = 0; i < codes.size(); ++i) {
      const array& c = codes[i];
      const array blank = zeros({c.shape(0), c.shape(1), cap - at, c.shape(3)}, c.dtype());
      grown.push_back(at > 0 ? concatenate({rows_of(s[i], at), blank}, 2) : blank);
    }
    s = std::move(grown);
  }
  for (size_t i = 0; i < codes.size(); ++i) {
    const array& c = codes[i];
    s[i] = slice_update(s[i], c, {0, 0, at, 0}, {c.shape(0), c.shape(1), at + T, c.shape(3)});
  }
}

void QuantizedKVCache::store(const array& keys, const array& values) {
  if (keys.ndim() != 4 || values.shape() != keys.shape()) {
    throw std::invalid_argument("[QuantizedKVCache] keys and values must both be [B, H, T, D].");
  }
  const int B = static_cast<int>(keys.shape(0)), H = static_cast<int>(keys.shape(1));
  const int T = static_cast<int>(keys.shape(2)), D = static_cast<int>(keys.shape(3));
  if (offset_ > 0 && (B != B_ || H != H_ || D != D_)) {
    throw std::invalid_argument("[QuantizedKVCache] New keys do not match the cached ones' batch, heads or head size.");
  }
  if (D % group_size_ != 0 || (bits_ == 4 && D % 2 != 0)) {
    throw std::invalid_argument("[QuantizedKVCache] The head size " + std::to_string(D) +
                                " is not a multiple of the KV group size " + std::to_string(group_size_) +
                                " (set --kv-group-size to a divisor of it).");
  }
  B_ = B, H_ = H, D_ = D;
  if (!quantized_) {
    float_cache_.update_and_fetch(keys, values);
    offset_ += T;
    if (offset_ <= start_) return;
    // Past the start: everything cached so far moves into the quantized stores.
    auto state = float_cache_.state();
    write(keys_, state[0], 0);
    write(values_, state[1], 0);
    float_cache_ = StandardKVCache();
    quantized_ = true;
    return;
  }
  write(keys_, keys, offset_);
  write(values_, values, offset_);
  offset_ += T;
}

// The filled rows as float32 [B, H, offset, D], op by op.
array QuantizedKVCache::dequantized(const Store& s) const {
  array codes = astype(rows_of(s[0], offset_), int32);
  if (bits_ == 4) {
    // Element 2k is the low nibble of byte k.
    const array sixteen(16, int32);
    codes = reshape(stack({remainder(codes, sixteen), floor_divide(codes, sixteen)}, -1), {B_, H_, offset_, D_});
  }
  const Shape grouped{B_, H_, offset_, groups(), group_size_};
  const array q = reshape(astype(codes, float32), grouped);
  const array w = add(multiply(q, expand_dims(rows_of(s[1], offset_), -1)), expand_dims(rows_of(s[2], offset_), -1));
  return reshape(w, {B_, H_, offset_, D_});
}

std::pair<array, array> QuantizedKVCache::update_and_fetch(const array& keys, const array& values) {
  store(keys, values);
  if (!quantized_) {
    auto state = float_cache_.state();
    return {state[0], state[1]};
  }
  return {astype(dequantized(keys_), keys.dtype()), astype(dequantized(values_), values.dtype())};
}

array QuantizedKVCache::attention(const array& q, const array& keys, const array& values, float scale,
                                  const AttentionMask& mask, std::optional<float> softcap) {
  store(keys, values);
  if (!quantized_) {
    auto state = float_cache_.state();
    return fast::scaled_dot_product_attention(q, state[0], state[1], scale, mask.mode, mask.mask, softcap);
  }
  const int Hq = static_cast<int>(q.shape(1)), T = static_cast<int>(q.shape(2));
  if (q.shape(0) != B_ || Hq % H_ != 0 || q.shape(3) != D_) {
    throw std::invalid_argument("[QuantizedKVCache] Queries do not match the cached keys.");
  }
  if (mask.mask && (mask.mask->ndim() != 2 || mask.mask->shape(0) != T || mask.mask->shape(1) != offset_)) {
    throw std::invalid_argument("[QuantizedKVCache] An explicit mask must be [T, T_total].");
  }
  return fast::quantized_kv_attention(q, keys_, values_, offset_, bits_, group_size_, scale,
                                      mask.mode == "causal" ? "causal" : "", mask.mask, softcap);
}

int QuantizedKVCache::trim(int n) {
  n = std::clamp(n, 0, offset_);
  if (!quantized_) float_cache_.trim(n);
  offset_ -= n;
  return n;
}

std::vector<array> QuantizedKVCache::state() const {
  if (!quantized_) return float_cache_.state();
  std::vector<array> out;
  for (const Store* s : {&keys_, &values_})
    for (const array& a : *s) out.push_back(rows_of(a, offset_));
  return out;
}

void QuantizedKVCache::set_state(const std::vector<array>& state) {
  if (state.size() == 2) {
    float_cache_.set_state(state);
    quantized_ = false;
    offset_ = float_cache_.offset();
    B_ = static_cast<int>(state[0].shape(0)), H_ = static_cast<int>(state[0].shape(1));
    D_ = static_cast<int>(state[0].shape(3));
    return;
  }
  if (state.size() != 6 || state[0].ndim() != 4) {
    throw std::invalid_argument("[QuantizedKVCache] A quantized state is 6 arrays of [B, H, T, ...].");
  }
  B_ = static_cast<int>(state[0].shape(0)), H_ = static_cast<int>(state[0].shape(1));
  offset_ = static_cast<int>(state[0].shape(2));
  D_ = static_cast<int>(state[0].shape(3)) * 8 / bits_;
  Shape codes{B_, H_, offset_, row_bytes()};
  Shape params{B_, H_, offset_, D_ / group_size_};
  if (D_ % group_size_ != 0) throw std::invalid_argument("[QuantizedKVCache] The state does not fit its group size.");
  for (int i = 0; i < 6; ++i) {
    if (state[i].shape() != (i % 3 == 0 ? codes : params)) {
      throw std::invalid_argument("[QuantizedKVCache] State array " + std::to_string(i) + " has the wrong shape.");
    }
  }
  // The state is a store with room for no more rows: the next token grows it.
  keys_ = {astype(state[0], uint8), astype(state[1], float32), astype(state[2], float32)};
  values_ = {astype(state[3], uint8), astype(state[4], float32), astype(state[5], float32)};
  quantized_ = true;
  float_cache_ = StandardKVCache();
}

std::map<std::string, std::string> QuantizedKVCache::meta_state() const {
  return {{"bits", std::to_string(bits_)}, {"group_size", std::to_string(group_size_)},
          {"start", std::to_string(start_)}};
}

void QuantizedKVCache::set_meta_state(const std::map<std::string, std::string>& meta) {
  int bits = parse_meta(meta, "bits");
  int group_size = parse_meta(meta, "group_size");
  if (bits != bits_ || group_size != group_size_) {
    throw std::invalid_argument("[QuantizedKVCache] Metadata bits/group_size differ from the cache's.");
  }
  start_ = parse_meta(meta, "start");
}

size_t QuantizedKVCache::nbytes() const {
  if (!quantized_) {
    size_t n = 0;
    for (const auto& a : float_cache_.state()) n += a.nbytes();
    return n;
  }
  // The filled rows (the stores keep up to 255 more per head for the next tokens).
  const size_t rows = static_cast<size_t>(B_) * H_ * offset_;
  return 2 * rows * (row_bytes() + 2 * sizeof(float) * groups());
}

Cache make_quantized_cache(const Model& model, int bits, int group_size, int start) {
  Cache cache;
  for (int i = 0; i < model.num_layers(); ++i) cache.push_back(std::make_shared<QuantizedKVCache>(bits, group_size, start));
  return cache;
}

}  // namespace tessera::lm
