// Matrix-vector products y = W x with W [N, K] row-major (leading dimension ldw): the
// memory-bound core of decoding, where every weight is read exactly once per token. Rows are
// split over the thread pool; x stays in cache. bf16 values are raw 16-bit patterns.
#pragma once

#include <cstdint>

#include "tessera/half.h"

namespace tessera::cpu {

// y[n] = sum_k W[n, k] * x[k], accumulated in float32.
void gemv_bf16(int64_t N, int64_t K, const uint16_t* W, int64_t ldw, const uint16_t* x, float* y);
void gemv_bf16(int64_t N, int64_t K, const uint16_t* W, int64_t ldw, const float* x, float* y);
void gemv_f32(int64_t N, int64_t K, const float* W, int64_t ldw, const float* x, float* y);

// Most vectors for which gemv_bf16_batched gives each vector exactly its product alone (and the
// vectors the row kernels take with each row of W).
constexpr int64_t kMaxExactVectors = 15;

// Y [M, N] = X [M, K] · W^T for a few vectors of float32 x, W float32 or float16 (read in place,
// widened in registers): each row of W read once for every vector, and every row of Y exactly
// what that vector alone gives (gemv_f32 is the one-vector case).
void gemv_f32_batched(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* W, int64_t ldw,
                      float* Y, int64_t ldy);
void gemv_f16_batched(int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float16_t* W,
                      int64_t ldw, float* Y, int64_t ldy);

// A few vectors at once, reading W once: Y[m, n] = alpha * sum_k X[m, k] W[n, k] + beta * Y[m, n]
// for m < M (X [M, K] and Y [M, N] row-major). Meant for small M (decoding a few sequences, a
// speculative verification pass); gemm_bf16 uses it for M <= kMaxExactVectors. With AVX-512 BF16
// and M <= kMaxExactVectors every row of Y is exactly the product of its vector alone (one row
// of W at a time, its four sums per vector in a fixed order). When beta == 0, Y is not read.
void gemv_bf16_batched(int64_t M, int64_t N, int64_t K, const uint16_t* X, int64_t ldx, const uint16_t* W,
                       int64_t ldw, float alpha, float beta, float* Y, int64_t ldy);

}  // namespace tessera::cpu
