#include "tessera/lm/quantized_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "backend/cpu/attention_quantized.h"
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

// A store as the backend kernels read it.
template <typename Store>
cpu::QuantizedRows rows_of(const Store& s) {
  return {s.codes.data(), s.scales.data(), s.biases.data(), s.cap};
}

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

// Room for `rows` rows per head, keeping each head's first `kept`; grows in steps of 256 rows so
// that decoding appends in place.
void QuantizedKVCache::reserve(Store& s, int rows, int kept) const {
  if (rows <= s.cap) return;
  const int cap = (rows + 255) / 256 * 256;
  const size_t heads = static_cast<size_t>(B_) * H_;
  Store grown;
  grown.cap = cap;
  grown.codes.resize(heads * cap * row_bytes());
  grown.scales.resize(heads * cap * groups());
  grown.biases.resize(heads * cap * groups());
  for (size_t bh = 0; bh < heads && kept > 0; ++bh) {
    std::copy_n(s.codes.begin() + bh * s.cap * row_bytes(), static_cast<size_t>(kept) * row_bytes(),
                grown.codes.begin() + bh * cap * row_bytes());
    std::copy_n(s.scales.begin() + bh * s.cap * groups(), static_cast<size_t>(kept) * groups(),
                grown.scales.begin() + bh * cap * groups());
    std::copy_n(s.biases.begin() + bh * s.cap * groups(), static_cast<size_t>(kept) * groups(),
                grown.biases.begin() + bh * cap * groups());
  }
  s = std::move(grown);
}

void QuantizedKVCache::append(Store& s, const std::vector<float>& x, int T, int at) const {
  reserve(s, at + T, at);
  const int levels = (1 << bits_) - 1;
  for (int bh = 0; bh < B_ * H_; ++bh) {
    for (int t = 0; t < T; ++t) {
      const float* row = x.data() + (static_cast<size_t>(bh) * T + t) * D_;
      const size_t r = static_cast<size_t>(bh) * s.cap + at + t;
      uint8_t* out = s.codes.data() + r * row_bytes();
      std::fill_n(out, row_bytes(), 0);
      for (int g = 0; g < groups(); ++g) {
        const float* v = row + g * group_size_;
        auto [lo, hi] = std::minmax_element(v, v + group_size_);
        const float scale = (*hi - *lo) / levels;
        s.scales[r * groups() + g] = scale;
        s.biases[r * groups() + g] = *lo;
        for (int i = 0; i < group_size_; ++i) {
          int q = scale > 0 ? static_cast<int>(std::lround((v[i] - *lo) / scale)) : 0;
          q = std::clamp(q, 0, levels);
          const int d = g * group_size_ + i;
          if (bits_ == 8) {
            out[d] = static_cast<uint8_t>(q);
          } else {
            out[d / 2] |= static_cast<uint8_t>(q << ((d % 2) * 4));
          }
        }
      }
    }
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
    // Past the start: everything cached so far moves into the quantized store.
    auto state = float_cache_.state();
    append(keys_, astype(state[0], float32).to_vector<float>(), offset_, 0);
    append(values_, astype(state[1], float32).to_vector<float>(), offset_, 0);
    float_cache_ = StandardKVCache();
    quantized_ = true;
    return;
  }
  append(keys_, astype(keys, float32).to_vector<float>(), T, offset_);
  append(values_, astype(values, float32).to_vector<float>(), T, offset_);
  offset_ += T;
}

array QuantizedKVCache::dequantized(const Store& s) const {
  std::vector<float> out(static_cast<size_t>(B_) * H_ * offset_ * D_);
  for (int bh = 0; bh < B_ * H_; ++bh) {
    cpu::dequantize_head(rows_of(s), bh, offset_, D_, bits_, group_size_, out.data() + static_cast<size_t>(bh) * offset_ * D_);
  }
  return array(out.data(), {B_, H_, offset_, D_}, float32);
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
  const int S = offset_;
  std::unique_ptr<bool[]> explicit_mask;
  if (mask.mask) {
    const array& m = *mask.mask;
    if (m.ndim() != 2 || m.shape(0) != T || m.shape(1) != S) {
      throw std::invalid_argument("[QuantizedKVCache] An explicit mask must be [T, T_total].");
    }
    const std::vector<int32_t> visible = astype(m, int32).to_vector<int32_t>();
    explicit_mask = std::make_unique<bool[]>(visible.size());
    for (size_t i = 0; i < visible.size(); ++i) explicit_mask[i] = visible[i] != 0;
  }
  cpu::QuantizedAttentionParams p;
  p.B = B_, p.Hq = Hq, p.Hkv = H_, p.Tq = T, p.Tk = S, p.D = D_;
  p.bits = bits_, p.group_size = group_size_, p.scale = scale;
  p.causal = mask.mode == "causal";
  p.softcap = softcap;
  p.mask = explicit_mask.get();
  p.q_bfloat16 = q.dtype() == bfloat16;
  const std::vector<float> qv = astype(q, float32).to_vector<float>();
  std::vector<float> out(qv.size());
  cpu::quantized_attention(p, qv.data(), rows_of(keys_), rows_of(values_), out.data());
  return astype(array(out.data(), q.shape(), float32), q.dtype());
}

int QuantizedKVCache::trim(int n) {
  n = std::clamp(n, 0, offset_);
  if (!quantized_) float_cache_.trim(n);
  offset_ -= n;
  return n;
}

array QuantizedKVCache::store_array(const Store& s, int part) const {
  const int width = part == 0 ? row_bytes() : groups();
  std::vector<float> f;
  std::vector<uint8_t> u;
  for (int bh = 0; bh < B_ * H_; ++bh) {
    const size_t from = static_cast<size_t>(bh) * s.cap * width, to = from + static_cast<size_t>(offset_) * width;
    if (part == 0) {
      u.insert(u.end(), s.codes.begin() + from, s.codes.begin() + to);
    } else {
      const auto& src = part == 1 ? s.scales : s.biases;
      f.insert(f.end(), src.begin() + from, src.begin() + to);
    }
  }
  Shape shape{B_, H_, offset_, width};
  return part == 0 ? array(u.data(), shape, uint8) : array(f.data(), shape, float32);
}

std::vector<array> QuantizedKVCache::state() const {
  if (!quantized_) return float_cache_.state();
  return {store_array(keys_, 0), store_array(keys_, 1), store_array(keys_, 2),
          store_array(values_, 0), store_array(values_, 1), store_array(values_, 2)};
}

void QuantizedKVCache::load_store(Store& s, const array& codes, const array& scales, const array& biases) {
  // The state is [B, H, T, ...] head after head: the layout of a store with cap = T.
  s = Store();
  s.cap = offset_;
  s.codes = astype(codes, uint8).to_vector<uint8_t>();
  s.scales = astype(scales, float32).to_vector<float>();
  s.biases = astype(biases, float32).to_vector<float>();
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
  load_store(keys_, state[0], state[1], state[2]);
  load_store(values_, state[3], state[4], state[5]);
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
