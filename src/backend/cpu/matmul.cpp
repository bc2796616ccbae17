#include "backend/cpu/matmul.h"

#include <cblas.h>

#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/gemv.h"
#include "backend/cpu/kernel_util.h"

namespace tessera::cpu {
namespace {

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, bool ta, const float* b,
           int64_t ldb, bool tb, float beta, float* c) {
  if (M == 1) {
    // A vector times a matrix: GEMV reads each matrix element once, the decoding hot path.
    const int64_t inc_a = ta ? lda : 1;
    if (tb && inc_a == 1 && alpha == 1.0f && beta == 0.0f) {
      // x @ W^T with W [N, K] (a Linear layer): our pool-threaded GEMV has far less call
      // overhead than OpenBLAS for the small matrices of small models.
      gemv_f32(N, K, b, ldb, a, c);
    } else if (tb) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, b, ldb, a, inc_a, beta, c, 1);
    } else {
      cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, b, ldb, a, inc_a, beta, c, 1);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a,
              lda, b, ldb, beta, c, N);
}

// Copies a strided matrix (rows x cols, leading dimension ld, maybe transposed) of a 16-bit
// float type into a row-contiguous float32 buffer of op(X).
template <typename T>
void to_f32_matrix(const T* x, int64_t rows, int64_t cols, int64_t ld, bool transposed, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    if (transposed) {
      for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = to_f32(x[c * ld + r]);
    } else {
      load_row(x + r * ld, 1, dst + r * cols, cols);
    }
  }
}

// bf16 operands go to the AVX512-BF16 kernel in place; only the float32 result is converted.
void gemm_bf16_batched(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& a, const GemmOperand& b,
                       float beta, bfloat16_t* c) {
  std::vector<float> fc(M * N);
  const uint16_t* pa = static_cast<const uint16_t*>(a.data);
  const uint16_t* pb = static_cast<const uint16_t*>(b.data);
  for (size_t i = 0; i < a.batch_offsets.size(); ++i) {
    bfloat16_t* ci = c + i * M * N;
    if (beta != 0.0f) load_row(ci, 1, fc.data(), M * N);
    gemm_bf16(a.transposed, b.transposed, M, N, K, alpha, pa + a.batch_offsets[i], a.ld, pb + b.batch_offsets[i],
              b.ld, beta, fc.data(), N);
    store_row(fc.data(), ci, M * N);
  }
}

template <typename T>
void gemm_half(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& a, const GemmOperand& b,
               float beta, T* c) {
  std::vector<float> fa(M * K), fb(K * N), fc(M * N);
  const T* pa = static_cast<const T*>(a.data);
  const T* pb = static_cast<const T*>(b.data);
  for (size_t i = 0; i < a.batch_offsets.size(); ++i) {
    to_f32_matrix(pa + a.batch_offsets[i], M, K, a.ld, a.transposed, fa.data());
    to_f32_matrix(pb + b.batch_offsets[i], K, N, b.ld, b.transposed, fb.data());
    T* ci = c + i * M * N;
    if (beta != 0.0f) load_row(ci, 1, fc.data(), M * N);
    sgemm(M, N, K, alpha, fa.data(), K, false, fb.data(), N, false, beta, fc.data());
    store_row(fc.data(), ci, M * N);
  }
}

}  // namespace

void gemm(Dtype dtype, int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& a, const GemmOperand& b,
          float beta, void* c) {
  const size_t batch = a.batch_offsets.size();
  if (M == 0 || N == 0 || batch == 0) return;
  dispatch_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pc = static_cast<T*>(c);
    if (K == 0) {
      // An empty sum: C = beta * C.
      for (size_t i = 0; i < batch * M * N; ++i) pc[i] = from_f32<T>(beta == 0.0f ? 0.0f : beta * to_f32(pc[i]));
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      const float* pa = static_cast<const float*>(a.data);
      const float* pb = static_cast<const float*>(b.data);
      for (size_t i = 0; i < batch; ++i) {
        sgemm(M, N, K, alpha, pa + a.batch_offsets[i], a.ld, a.transposed, pb + b.batch_offsets[i], b.ld,
              b.transposed, beta, pc + i * M * N);
      }
    } else if constexpr (std::is_same_v<T, bfloat16_t>) {
      gemm_bf16_batched(M, N, K, alpha, a, b, beta, pc);
    } else {
      gemm_half<T>(M, N, K, alpha, a, b, beta, pc);
    }
  });
}

}  // namespace tessera::cpu
