#include "backend/cpu/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/gemm_panels.h"
#include "backend/cpu/gemv.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"

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
  if (M <= kMaxExactVectors && tb && !ta && alpha == 1.0f && beta == 0.0f) {
    // A few vectors against a Linear weight (a speculative verification pass, small batches):
    // each row exactly its product alone, the weight read once.
    return gemv_f32_batched(M, N, K, a, lda, b, ldb, c, N);
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a,
              lda, b, ldb, beta, c, N);
}

// Copies `rows` stored rows of `cols` elements (leading dimension ld) of a 16-bit float matrix
// into a contiguous float32 buffer of the same layout, on the thread pool.
template <typename T>
void rows_to_f32(const T* x, int64_t rows, int64_t cols, int64_t ld, float* dst) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) load_row(x + r * ld, 1, dst + r * cols, cols);
  });
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

// From this many rows of A on, float16 products run on the split bf16 GEMM (gemm_split_bf16.h),
// faster than float32 sgemm and as exact for float16 values.
constexpr int64_t kSplitMinRows = 16;

// fc [M, N] = alpha * fa @ op(B) + beta * fc for a float16 B, converted a panel of its stored
// rows at a time. A Linear layer's vector (M = 1, B = W^T) reads W in place instead: decoding is
// bound by reading it.
void gemm_f16_b(int64_t M, int64_t N, int64_t K, float alpha, const float* fa, bool ta, const float16_t* pb,
                int64_t ldb, bool tb, float beta, float* fc) {
  if (M <= kMaxExactVectors && tb && !ta && alpha == 1.0f && beta == 0.0f) {
    return gemv_f16_batched(M, N, K, fa, K, pb, ldb, fc, N);
  }
  const PanelArithmetic arithmetic =
      M >= kSplitMinRows && cpu_has_avx512_bf16() ? PanelArithmetic::split_bf16 : PanelArithmetic::sgemm;
  const int64_t b_cols = tb ? K : N;
  panel_product(
      arithmetic, ta, tb, M, N, K, alpha, fa,
      [&](int64_t r0, int64_t r1, float* panel) { rows_to_f32(pb + r0 * ldb, r1 - r0, b_cols, ldb, panel); }, beta,
      fc, N);
}

void gemm_f16_batched(int64_t M, int64_t N, int64_t K, float alpha, const GemmOperand& a, const GemmOperand& b,
                      float beta, float16_t* c) {
  std::vector<float> fa(M * K), fc(M * N);
  const auto* pa = static_cast<const float16_t*>(a.data);
  const auto* pb = static_cast<const float16_t*>(b.data);
  for (size_t i = 0; i < a.batch_offsets.size(); ++i) {
    rows_to_f32(pa + a.batch_offsets[i], a.transposed ? K : M, a.transposed ? M : K, a.ld, fa.data());
    float16_t* ci = c + i * M * N;
    if (beta != 0.0f) load_row(ci, 1, fc.data(), M * N);
    gemm_f16_b(M, N, K, alpha, fa.data(), a.transposed, pb + b.batch_offsets[i], b.ld, b.transposed, beta,
               fc.data());
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
      gemm_f16_batched(M, N, K, alpha, a, b, beta, pc);
    }
  });
}

}  // namespace tessera::cpu
