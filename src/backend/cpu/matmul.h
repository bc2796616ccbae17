// General matrix multiply on strided matrices, for every float dtype.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/dtype.h"

namespace tessera::cpu {

// One operand of a batched GEMM: element offsets of each batch's matrix, the leading dimension,
// and whether the matrix is stored transposed (column-major view of a row-major buffer).
struct GemmOperand {
  const void* data;
  std::vector<int64_t> batch_offsets;
  int64_t ld;
  bool transposed;
};

// For every batch i: C_i = alpha * op(A_i) @ op(B_i) + beta * C_i, with op(A) [M, K] and
// op(B) [K, N]; C is row-contiguous [batch, M, N] in `dtype` (all operands share it).
// Float32 goes to OpenBLAS, bf16 to the AVX512-BF16 kernel (gemm_bf16.h); bf16/f16 accumulate
// in float32 and round once at the end.
void gemm(Dtype dtype, int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& a, const GemmOperand& b,
          float beta, void* c);

}  // namespace tessera::cpu
