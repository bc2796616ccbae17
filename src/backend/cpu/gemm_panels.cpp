#include "backend/cpu/gemm_panels.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/gemm_split_bf16.h"

namespace tessera::cpu {

namespace {

// Float32 elements of a panel: 2 MiB, about the L2 of a core.
constexpr int64_t kPanelElems = int64_t{1} << 19;

}  // namespace

void panel_product(PanelArithmetic arithmetic, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, const PanelFill& fill, float beta, float* C, int64_t ldc) {
  const int64_t lda = trans_a ? M : K;
  const int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  const int64_t panel_rows = std::min(b_rows, std::max<int64_t>(16, kPanelElems / std::max<int64_t>(1, b_cols) / 16 * 16));
  std::vector<float> panel(panel_rows * b_cols);
  const bool split = arithmetic == PanelArithmetic::split_bf16;
  SplitBf16 sa, sb;
  if (split) split_bf16(A, trans_a ? K : M, lda, lda, sa);
  // C [M, n] (+)= op(A) from column a_offset, k columns of it, times the panel.
  auto multiply = [&](int64_t n, int64_t k, int64_t a_offset, float b, float* c) {
    if (split) {
      return gemm_split_bf16(trans_a, trans_b, M, n, k, alpha, sa.hi.data() + a_offset, sa.lo.data() + a_offset, lda,
                             sb.hi.data(), sb.lo.data(), b_cols, b, c, ldc);
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, n, k,
                alpha, A + a_offset, lda, panel.data(), b_cols, b, c, ldc);
  };
  for (int64_t r0 = 0; r0 < b_rows; r0 += panel_rows) {
    const int64_t r1 = std::min(b_rows, r0 + panel_rows);
    fill(r0, r1, panel.data());
    if (split) split_bf16(panel.data(), r1 - r0, b_cols, b_cols, sb);
    if (trans_b) {
      multiply(r1 - r0, K, 0, beta, C + r0);
    } else {
      multiply(N, r1 - r0, trans_a ? r0 * M : r0, r0 == 0 ? beta : 1.0f, C);
    }
  }
}

}  // namespace tessera::cpu
