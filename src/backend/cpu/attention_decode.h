// Attention for a few queries per head (decoding) with bfloat16 q, k and v.
#pragma once

#include "backend/cpu/attention.h"

namespace tessera::cpu {

// Computes attention() into out when the problem fits this kernel: bfloat16 operands, fewer than
// 16 queries per head, head sizes of 64, 128 or 256 (keys: a multiple of 32 up to 256), and
// AVX-512 BF16. Returns false, computing nothing, otherwise.
bool attention_decode(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
                      const AttentionOperand& v, const AttentionOperand& mask, void* out);

}  // namespace tessera::cpu
