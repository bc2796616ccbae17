#include "tessera/lm/quantized_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

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

uint8_t code_at(const uint8_t* row, int d, int bits) {
  return bits == 8 ? row[d] : static_cast<uint8_t>((row[d / 2] >> ((d % 2) * 4)) & 0xF);
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

void QuantizedKVCache::append(Store& s, const std::vector<float>& x, int T) const {
  const int levels = (1 << bits_) - 1;
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B_; ++b) {
      for (int h = 0; h < H_; ++h) {
        const float* row = x.data() + ((static_cast<size_t>(b) * H_ + h) * T + t) * D_;
        size_t at = s.codes.size();
        s.codes.resize(at + row_bytes(), 0);
        uint8_t* out = s.codes.data() + at;
        for (int g = 0; g < groups(); ++g) {
          const float* v = row + g * group_size_;
          auto [lo, hi] = std::minmax_element(v, v + group_size_);
          float scale = (*hi - *lo) / levels;
          s.scales.push_back(scale);
          s.biases.push_back(*lo);
          for (int i = 0; i < group_size_; ++i) {
            int q = scale > 0 ? static_cast<int>(std::lround((v[i] - *lo) / scale)) : 0;
            q = std::clamp(q, 0, levels);
            int d = g * group_size_ + i;
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
    append(keys_, astype(state[0], float32).to_vector<float>(), offset_);
    append(values_, astype(state[1], float32).to_vector<float>(), offset_);
    float_cache_ = StandardKVCache();
    quantized_ = true;
    return;
  }
  append(keys_, astype(keys, float32).to_vector<float>(), T);
  append(values_, astype(values, float32).to_vector<float>(), T);
  offset_ += T;
}

array QuantizedKVCache::dequantized(const Store& s) const {
  std::vector<float> out(static_cast<size_t>(B_) * H_ * offset_ * D_);
  for (int t = 0; t < offset_; ++t) {
    for (int bh = 0; bh < B_ * H_; ++bh) {
      size_t r = static_cast<size_t>(t) * B_ * H_ + bh;
      const uint8_t* codes = s.codes.data() + r * row_bytes();
      float* dst = out.data() + (static_cast<size_t>(bh) * offset_ + t) * D_;
      for (int d = 0; d < D_; ++d) {
        size_t g = r * groups() + d / group_size_;
        dst[d] = s.scales[g] * code_at(codes, d, bits_) + s.biases[g];
      }
    }
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
  const int prev = offset_;
  store(keys, values);
  if (!quantized_) {
    auto state = float_cache_.state();
    return fast::scaled_dot_product_attention(q, state[0], state[1], scale, mask.mode, mask.mask, softcap);
  }
  const int Hq = static_cast<int>(q.shape(1)), T = static_cast<int>(q.shape(2));
  if (q.shape(0) != B_ || Hq % H_ != 0 || q.shape(3) != D_) {
    throw std::invalid_argument("[QuantizedKVCache] Queries do not match the cached keys.");
  }
  const int rep = Hq / H_;
  const int S = offset_;
  std::vector<float> qv = astype(q, float32).to_vector<float>();
  std::vector<int> explicit_mask;
  int64_t mask_cols = 0;
  if (mask.mask) {
    const array& m = *mask.mask;
    if (m.ndim() != 2 || m.shape(0) != T || m.shape(1) != S) {
      throw std::invalid_argument("[QuantizedKVCache] An explicit mask must be [T, T_total].");
    }
    explicit_mask = astype(m, int32).to_vector<int>();
    mask_cols = m.shape(1);
  }
  const bool causal = mask.mode == "causal";
  std::vector<float> out(qv.size(), 0.0f);
  std::vector<float> scores(S);
  std::vector<float> qsum(groups());
  for (int b = 0; b < B_; ++b) {
    for (int hq = 0; hq < Hq; ++hq) {
      const int h = hq / rep;
      for (int i = 0; i < T; ++i) {
        const float* qrow = qv.data() + ((static_cast<size_t>(b) * Hq + hq) * T + i) * D_;
        for (int g = 0; g < groups(); ++g) {
          float sum = 0;
          for (int d = g * group_size_; d < (g + 1) * group_size_; ++d) sum += qrow[d];
          qsum[g] = sum;
        }
        float best = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < S; ++j) {
          bool visible = causal ? j <= prev + i : explicit_mask.empty() || explicit_mask[i * mask_cols + j] != 0;
          if (!visible) {
            scores[j] = -std::numeric_limits<float>::infinity();
            continue;
          }
          size_t r = (static_cast<size_t>(j) * B_ + b) * H_ + h;
          const uint8_t* codes = keys_.codes.data() + r * row_bytes();
          float s = 0;
          for (int g = 0; g < groups(); ++g) {
            float dot = 0;
            for (int d = g * group_size_; d < (g + 1) * group_size_; ++d) dot += qrow[d] * code_at(codes, d, bits_);
            s += keys_.scales[r * groups() + g] * dot + keys_.biases[r * groups() + g] * qsum[g];
          }
          s *= scale;
          if (softcap) s = *softcap * std::tanh(s / *softcap);
          scores[j] = s;
          best = std::max(best, s);
        }
        float* dst = out.data() + ((static_cast<size_t>(b) * Hq + hq) * T + i) * D_;
        if (best == -std::numeric_limits<float>::infinity()) continue;  // sees no key: zeros
        float total = 0;
        for (int j = 0; j < S; ++j) {
          scores[j] = std::exp(scores[j] - best);
          total += scores[j];
        }
        for (int j = 0; j < S; ++j) {
          if (scores[j] == 0) continue;
          const float p = scores[j] / total;
          size_t r = (static_cast<size_t>(j) * B_ + b) * H_ + h;
          const uint8_t* codes = values_.codes.data() + r * row_bytes();
          for (int g = 0; g < groups(); ++g) {
            const float a = p * values_.scales[r * groups() + g];
            const float c = p * values_.biases[r * groups() + g];
            for (int d = g * group_size_; d < (g + 1) * group_size_; ++d) dst[d] += a * code_at(codes, d, bits_) + c;
          }
        }
      }
    }
  }
  return astype(array(out.data(), q.shape(), float32), q.dtype());
}

int QuantizedKVCache::trim(int n) {
  n = std::clamp(n, 0, offset_);
  if (!quantized_) {
    float_cache_.trim(n);
  } else {
    size_t rows = static_cast<size_t>(offset_ - n) * B_ * H_;
    for (Store* s : {&keys_, &values_}) {
      s->codes.resize(rows * row_bytes());
      s->scales.resize(rows * groups());
      s->biases.resize(rows * groups());
    }
  }
  offset_ -= n;
  return n;
}

array QuantizedKVCache::store_array(const Store& s, int part) const {
  const int width = part == 0 ? row_bytes() : groups();
  std::vector<float> f;
  std::vector<uint8_t> u;
  for (int bh = 0; bh < B_ * H_; ++bh) {
    for (int t = 0; t < offset_; ++t) {
      size_t r = static_cast<size_t>(t) * B_ * H_ + bh;
      if (part == 0) {
        u.insert(u.end(), s.codes.begin() + r * width, s.codes.begin() + (r + 1) * width);
      } else {
        const auto& src = part == 1 ? s.scales : s.biases;
        f.insert(f.end(), src.begin() + r * width, src.begin() + (r + 1) * width);
      }
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
  auto u = astype(codes, uint8).to_vector<uint8_t>();
  auto sc = astype(scales, float32).to_vector<float>();
  auto bi = astype(biases, float32).to_vector<float>();
  s = Store();
  for (int t = 0; t < offset_; ++t) {
    for (int bh = 0; bh < B_ * H_; ++bh) {
      size_t src = static_cast<size_t>(bh) * offset_ + t;
      s.codes.insert(s.codes.end(), u.begin() + src * row_bytes(), u.begin() + (src + 1) * row_bytes());
      s.scales.insert(s.scales.end(), sc.begin() + src * groups(), sc.begin() + (src + 1) * groups());
      s.biases.insert(s.biases.end(), bi.begin() + src * groups(), bi.begin() + (src + 1) * groups());
    }
  }
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
  size_t n = 0;
  for (const Store* s : {&keys_, &values_}) n += s->codes.size() + 4 * (s->scales.size() + s->biases.size());
  return n;
}

Cache make_quantized_cache(const Model& model, int bits, int group_size, int start) {
  Cache cache;
  for (int i = 0; i < model.num_layers(); ++i) cache.push_back(std::make_shared<QuantizedKVCache>(bits, group_size, start));
  return cache;
}

}  // namespace tessera::lm
