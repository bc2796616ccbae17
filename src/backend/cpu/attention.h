// Fused scaled-dot-product attention.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "tessera/dtype.h"

namespace tessera::cpu {

// A 4-D operand [B, H, T, X]; strides in elements. The last axis must have stride 1, except for
// the mask, which may be any (e.g. broadcast) view.
struct AttentionOperand {
  const void* data = nullptr;
  std::array<int64_t, 4> strides{};
};

// Query positions from which attention takes its prefill kernels (GEMMs, transposed keys,
// bfloat16 value products). Below them (decoding, speculative verification of up to 15 drafts)
// every query row gets the arithmetic it gets as a single query, over exactly the keys it sees,
// so a pass over several new tokens gives each the bits of decoding it alone.
constexpr int64_t kPrefillQueries = 16;

struct AttentionParams {
  Dtype dtype = float32;  // of q, k, v and out
  int64_t B = 0, Hq = 0, Hkv = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  float scale = 1.0f;
  bool causal = false;                 // query i sees keys j <= i + Tk - Tq
  std::optional<float> softcap;        // s -> cap * tanh(s / cap), before the mask
  std::optional<Dtype> mask_dtype;     // bool: false hides a key; float: added to the scores
};

// out is row-contiguous [B, Hq, Tq, Dv]. softmax(q k^T * scale + mask) v per head, query head h
// reading key/value head h / (Hq / Hkv); softmax in float32. A query that sees no key at all
// gets zeros.
void attention(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
               const AttentionOperand& v, const AttentionOperand& mask, void* out);

}  // namespace tessera::cpu
