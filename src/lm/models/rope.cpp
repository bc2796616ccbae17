#include "lm/models/rope.h"

#include "tessera/fast.h"

#include <stdexcept>

namespace tessera::lm {
namespace {

// fast::rope takes MLX-style freqs (the reciprocal of inv_freq).
array freqs_from_inv(const std::vector<float>& inv_freq) {
  std::vector<float> freqs(inv_freq.size());
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    freqs[i] = 1.0f / inv_freq[i];
  }
  return array(freqs, {static_cast<int64_t>(freqs.size())}, float32);
}

void check_factor_count(const std::vector<double>& factors, int dims, const char* name) {
  if (factors.size() != static_cast<size_t>(dims / 2)) {
    throw std::invalid_argument("rope " + std::string(name) + " has " + std::to_string(factors.size()) +
                                " entries, expected rotary dims / 2 = " + std::to_string(dims / 2));
  }
}

}  // namespace

std::shared_ptr<nn::RoPE> make_rope(const RopeConfig& rope, int head_dim) {
  const int dims = rope_dims(rope, head_dim);
  const auto base = static_cast<float>(rope.theta);
  if (rope.type == "default") {
    return std::make_shared<nn::RoPE>(dims, false, base, 1.0f);
  }
  if (rope.type == "linear") {
    return std::make_shared<nn::RoPE>(dims, false, base, static_cast<float>(1.0 / rope.factor));
  }
  if (rope.type == "llama3") {
    return std::make_shared<nn::RoPE>(dims, false, base, 1.0f, freqs_from_inv(llama3_inv_freq(rope, dims)));
  }
  if (rope.type == "dynamic") {
    return std::make_shared<DynamicNTKRoPE>(rope, dims);
  }
  if (rope.type == "longrope") {
    return std::make_shared<LongRoPE>(rope, dims);
  }
  throw std::invalid_argument("unsupported rope type '" + rope.type + "'");
}

DynamicNTKRoPE::DynamicNTKRoPE(const RopeConfig& rope, int dims)
    : nn::RoPE(dims, false, static_cast<float>(rope.theta), 1.0f), rope_(rope) {}

array DynamicNTKRoPE::operator()(const array& x, int offset, const std::optional<array>& row_offsets) const {
  const int seq_len = offset + static_cast<int>(x.shape(-2));
  const auto base = static_cast<float>(dynamic_ntk_base(rope_, dims_, seq_len));
  if (row_offsets) return fast::rope(x, dims_, traditional_, base, scale_, *row_offsets);
  return fast::rope(x, dims_, traditional_, base, scale_, offset);
}

LongRoPE::LongRoPE(const RopeConfig& rope, int dims)
    : nn::RoPE(dims, false, static_cast<float>(rope.theta), 1.0f),
      original_max_position_embeddings_(rope.original_max_position_embeddings.value_or(rope.max_position_embeddings)),
      short_freqs_((check_factor_count(rope.short_factor, dims, "short_factor"),
                    freqs_from_inv(longrope_inv_freq(rope, dims, rope.short_factor)))),
      long_freqs_((check_factor_count(rope.long_factor, dims, "long_factor"),
                   freqs_from_inv(longrope_inv_freq(rope, dims, rope.long_factor)))) {}

array LongRoPE::operator()(const array& x, int offset, const std::optional<array>& row_offsets) const {
  const int seq_len = offset + static_cast<int>(x.shape(-2));
  const array& freqs = seq_len > original_max_position_embeddings_ ? long_freqs_ : short_freqs_;
  if (row_offsets) return fast::rope(x, dims_, traditional_, std::nullopt, scale_, *row_offsets, freqs);
  return fast::rope(x, dims_, traditional_, std::nullopt, scale_, offset, freqs);
}

}  // namespace tessera::lm
