// Fused operations with dedicated kernels; each matches the op-by-op reference and, but for the
// quantized KV cache's two (inference only), has a VJP.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tessera/array.h"

namespace tessera::fast {

// silu(gate) * x = gate * sigmoid(gate) * x, the gated MLP of Llama-style models (mlx-lm's
// swiglu), computed in float32 and rounded once. gate and x: one shape, floating point; the
// result has their promoted dtype.
array swiglu(const array& gate, const array& x, StreamOrDevice s = {});

// x * rsqrt(mean(x^2, -1) + eps) * weight, computed in float32, output in x's dtype.
array rms_norm(const array& x, const std::optional<array>& weight, float eps, StreamOrDevice s = {});

array layer_norm(const array& x, const std::optional<array>& weight, const std::optional<array>& bias,
                 float eps, StreamOrDevice s = {});

// x is [..., T, D]; row t is at position offset + t; angle = scale * pos * inv_freq[i] with
// inv_freq[i] = base^(-2i/dims) or 1/freqs[i]. traditional=false rotates halves (Hugging Face
// convention). Only the first `dims` features rotate. An array offset is one integer, or one per
// batch row of x [B, ..., T, D] (sequences of a left-padded batch, each at its own position).
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs = {}, StreamOrDevice s = {});
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const array& offset, const std::optional<array>& freqs = {}, StreamOrDevice s = {});

// q [B, Hq, Tq, D], k/v [B, Hkv, Tk, D], Hq % Hkv == 0. mask_mode "" or "causal" (the last query
// sees the last key); mask is additive float or boolean, broadcastable to [B, Hq, Tq, Tk].
array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode = "", const std::optional<array>& mask = {},
                                   std::optional<float> logit_softcap = {}, StreamOrDevice s = {});

// Affine quantization of the last axis for a quantized KV cache, in groups of any size that
// divides it: {codes uint8 [..., D * bits / 8] (at 4 bits element 2k in the low nibble of byte
// k), scales, biases float32 [..., D / group_size]} with x ~ scale * q + bias, scale = (max -
// min) / (2^bits - 1) and bias = min per group. bits is 4 or 8.
std::vector<array> quantize_kv(const array& x, int bits, int group_size, StreamOrDevice s = {});

// Attention of q [B, Hq, Tq, D] over keys and values held as quantize_kv's {codes, scales,
// biases} [B, Hkv, cap, ...], of which the first `length` rows are read (a cache grown ahead);
// mask_mode "" or "causal"; mask boolean [Tq, length] (false hides a key). Output in q's dtype.
// The cache is read in place, without a dequantized copy while decoding. Not differentiable.
array quantized_kv_attention(const array& q, const std::vector<array>& keys, const std::vector<array>& values,
                             int length, int bits, int group_size, float scale, const std::string& mask_mode = "",
                             const std::optional<array>& mask = {}, std::optional<float> logit_softcap = {},
                             StreamOrDevice s = {});

// logsumexp(logits, -1) - take_along_axis(logits, targets[..., None], -1): the per-position
// cross-entropy, float32 [...], from logits [..., V] of any float dtype and integer targets [...].
// Its gradient is computed in one pass without the [..., V] intermediates of that formula. A
// target outside [0, V) is an error at evaluation.
array cross_entropy(const array& logits, const array& targets, StreamOrDevice s = {});

}  // namespace tessera::fast
