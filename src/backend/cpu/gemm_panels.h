// Products whose B exists only in another form (float16 matrices, quantized weights) and is
// written into float32 a panel of stored rows at a time, each panel multiplied as soon as it is
// written: the float32 copy of B never exists whole.
#pragma once

#include <cstdint>
#include <functional>

namespace tessera::cpu {

// How the panels are multiplied.
//   sgemm: float32 on OpenBLAS.
//   split_bf16: split bf16 products (gemm_split_bf16.h), as exact as float32 while A's and B's
//               values have at most 16 significant bits (float16 values); needs AVX512-BF16.
enum class PanelArithmetic { sgemm, split_bf16 };

// Writes stored rows [r0, r1) of B, contiguous, into panel.
using PanelFill = std::function<void(int64_t r0, int64_t r1, float* panel)>;

// C = alpha * op(A) @ op(B) + beta * C with op(A) [M, K] and op(B) [K, N]. A is contiguous
// float32, stored [K, M] when trans_a, else [M, K]; C is row-major with leading dimension ldc.
// B is stored as N rows of K when trans_b, else as K rows of N, and given by fill.
void panel_product(PanelArithmetic arithmetic, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, const PanelFill& fill, float beta, float* C, int64_t ldc);

}  // namespace tessera::cpu
