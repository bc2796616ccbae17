// Products of float32 matrices whose values carry up to 16 significant bits (float16 weights and
// activations, dequantized float16 weights) on the bfloat16 GEMM.
//
// Each value v is split into two bfloat16 terms, hi = bf16(v) and lo = bf16(v - hi): 16
// significant bits together, exact for float16 values. A · B is then hi·hi + lo·hi + hi·lo on
// the bf16 GEMM, three products of two vdpbf16ps operands instead of float32 FMA on half as many
// elements per instruction; the dropped lo·lo term is below 2^-16 of each product.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::cpu {

struct SplitBf16 {
  std::vector<uint16_t> hi, lo;
};

// rows x cols of src (leading dimension ld) into contiguous hi and lo terms [rows, cols], on the
// thread pool. Requires AVX-512 (cpu_has_avx512()).
void split_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, SplitBf16& out);

// C = alpha * op(A) @ op(B) + beta * C as gemm_bf16 (gemm_bf16.h), from the split terms of A and
// B (each with its leading dimension).
void gemm_split_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a_hi,
                     const uint16_t* a_lo, int64_t lda, const uint16_t* b_hi, const uint16_t* b_lo, int64_t ldb,
                     float beta, float* C, int64_t ldc);

}  // namespace tessera::cpu
