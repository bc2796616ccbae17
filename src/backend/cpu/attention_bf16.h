// Attention with bfloat16 q, k and v on CPUs with AVX-512 BF16.
#pragma once

#include "backend/cpu/attention.h"

namespace tessera::cpu {

// Computes attention() into out when the problem fits this kernel: bfloat16 operands, head sizes
// of 64, 128 or 256, at least one key, and AVX-512 BF16. Returns false, computing nothing,
// otherwise.
bool attention_bf16(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
                    const AttentionOperand& v, const AttentionOperand& mask, void* out);

}  // namespace tessera::cpu
