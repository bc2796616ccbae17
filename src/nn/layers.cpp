#include "tessera/nn/layers.h"

#include "tessera/fast.h"
#include "tessera/ops.h"
#include "tessera/random.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace tessera::nn {

Linear::Linear(int input_dims, int output_dims, bool bias) {
  if (input_dims <= 0 || output_dims <= 0) {
    throw std::invalid_argument("[Linear] dimensions must be positive, got " + std::to_string(input_dims) + " x " +
                                std::to_string(output_dims));
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(input_dims));
  register_parameter("weight", random::uniform(array(-scale), array(scale), {output_dims, input_dims}));
  if (bias) {
    register_parameter("bias", random::uniform(array(-scale), array(scale), {output_dims}));
  }
}

array Linear::operator()(const array& x) {
  array y = matmul(x, transpose(weight()));
  return has_bias() ? add(y, parameter("bias")) : y;
}

Embedding::Embedding(int num_embeddings, int dims) {
  if (num_embeddings <= 0 || dims <= 0) {
    throw std::invalid_argument("[Embedding] dimensions must be positive");
  }
  const float scale = std::sqrt(1.0f / static_cast<float>(dims));
  register_parameter("weight", random::normal({num_embeddings, dims}, float32, 0.0f, scale));
}

array Embedding::operator()(const array& ids) { return take(weight(), ids, 0); }

array Embedding::as_linear(const array& x) { return matmul(x, transpose(weight())); }

RMSNorm::RMSNorm(int dims, float eps, bool unit_offset) : eps_(eps), unit_offset_(unit_offset) {
  register_parameter("weight", unit_offset ? zeros({dims}, float32) : ones({dims}, float32));
}

array RMSNorm::operator()(const array& x) {
  const array& w = parameter("weight");
  if (!unit_offset_) {
    return fast::rms_norm(x, w, eps_);
  }
  // 1 + weight is computed once per weight array, not on every call.
  if (!offset_scale_ || offset_scale_->first.id() != w.id()) {
    offset_scale_.emplace(w, add(astype(w, float32), array(1.0f)));
  }
  return fast::rms_norm(x, offset_scale_->second, eps_);
}

LayerNorm::LayerNorm(int dims, float eps, bool affine, bool bias) : eps_(eps) {
  if (affine) {
    register_parameter("weight", ones({dims}, float32));
    if (bias) {
      register_parameter("bias", zeros({dims}, float32));
    }
  }
}

array LayerNorm::operator()(const array& x) {
  std::optional<array> w;
  std::optional<array> b;
  if (has_parameter("weight")) {
    w = parameter("weight");
  }
  if (has_parameter("bias")) {
    b = parameter("bias");
  }
  return fast::layer_norm(x, w, b, eps_);
}

RoPE::RoPE(int dims, bool traditional, float base, float scale, std::optional<array> freqs)
    : dims_(dims), traditional_(traditional), base_(base), scale_(scale), freqs_(std::move(freqs)) {
  if (dims <= 0 || dims % 2 != 0) {
    throw std::invalid_argument("[RoPE] dims must be positive and even, got " + std::to_string(dims));
  }
  if (freqs_ && freqs_->size() != static_cast<size_t>(dims / 2)) {
    throw std::invalid_argument("[RoPE] freqs must have dims / 2 = " + std::to_string(dims / 2) + " entries, got " +
                                std::to_string(freqs_->size()));
  }
}

array RoPE::operator()(const array& x, int offset, const std::optional<array>& row_offsets) const {
  const std::optional<float> base = freqs_ ? std::nullopt : std::optional<float>(base_);
  if (row_offsets) return fast::rope(x, dims_, traditional_, base, scale_, *row_offsets, freqs_);
  return fast::rope(x, dims_, traditional_, base, scale_, offset, freqs_);
}

Dropout::Dropout(float p) : p_(p) {
  if (p < 0.0f || p >= 1.0f) {
    throw std::invalid_argument("[Dropout] p must be in [0, 1), got " + std::to_string(p));
  }
}

array Dropout::operator()(const array& x) {
  if (!training() || p_ == 0.0f) {
    return x;
  }
  const float keep = 1.0f - p_;
  array mask = random::bernoulli(array(keep), x.shape());
  return where(mask, multiply(x, array(1.0f / keep)), zeros_like(x));
}

}  // namespace tessera::nn
