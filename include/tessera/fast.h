// Fused operations with dedicated kernels; each matches the op-by-op reference and has a VJP.
#pragma once

#include <optional>
#include <string>

#include "tessera/array.h"

namespace tessera::fast {

// x * rsqrt(mean(x^2, -1) + eps) * weight, computed in float32, output in x's dtype.
array rms_norm(const array& x, const std::optional<array>& weight, float eps, StreamOrDevice s = {});

array layer_norm(const array& x, const std::optional<array>& weight, const std::optional<array>& bias,
                 float eps, StreamOrDevice s = {});

// x is [..., T, D]; row t is at position offset + t; angle = scale * pos * inv_freq[i] with
// inv_freq[i] = base^(-2i/dims) or 1/freqs[i]. traditional=false rotates halves (Hugging Face
// convention). Only the first `dims` features rotate.
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs = {}, StreamOrDevice s = {});
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const array& offset, const std::optional<array>& freqs = {}, StreamOrDevice s = {});

// q [B, Hq, Tq, D], k/v [B, Hkv, Tk, D], Hq % Hkv == 0. mask_mode "" or "causal" (the last query
// sees the last key); mask is additive float or boolean, broadcastable to [B, Hq, Tq, Tk].
array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode = "", const std::optional<array>& mask = {},
                                   std::optional<float> logit_softcap = {}, StreamOrDevice s = {});

// logsumexp(logits, -1) - take_along_axis(logits, targets[..., None], -1): the per-position
// cross-entropy, float32 [...], from logits [..., V] of any float dtype and integer targets [...].
// Its gradient is computed in one pass without the [..., V] intermediates of that formula. A
// target outside [0, V) is an error at evaluation.
array cross_entropy(const array& logits, const array& targets, StreamOrDevice s = {});

}  // namespace tessera::fast
