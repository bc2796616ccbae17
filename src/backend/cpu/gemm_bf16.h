// Matrix multiply of bfloat16 matrices with float32 accumulation and output.
//
// Matrices are row-major with leading dimensions (elements between rows); bf16 values are
// passed as their raw 16-bit patterns. On CPUs with AVX512_BF16 this runs a packed,
// register-blocked vdpbf16ps kernel on the thread pool; elsewhere it converts to float32 and
// calls OpenBLAS. Products are exact and sums are float32 (rounded, subnormals may flush).
#pragma once

#include <cstdint>

namespace tessera::cpu {

// C = alpha * op(A) @ op(B) + beta * C, with op(A) [M, K], op(B) [K, N], C [M, N] float32.
// trans_a: A is stored [K, M] (op(A) = A^T); otherwise [M, K].
// trans_b: B is stored [N, K] (op(B) = B^T, the layout of a Linear weight); otherwise [K, N].
// When beta == 0, C is not read (it may hold garbage or NaN).
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
               int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);

// C = A @ op(B) with A [M, K].
inline void gemm_bf16(bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                      const uint16_t* B, int64_t ldb, float* C, int64_t ldc) {
  gemm_bf16(false, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

}  // namespace tessera::cpu
