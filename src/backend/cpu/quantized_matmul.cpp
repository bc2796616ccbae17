// Matrix products with an affine-quantized operand.
//
// Few rows of x (decoding): the product should be bound by reading the packed weights, so every
// packed block is unpacked once in registers and multiplied into all rows of x, multi-threaded
// over output rows: on int8 dot products with x rounded to int8 where the CPU has them (4 and
// 8 bits, quantized_int8.h), else in float32 (qsimd::gemv_rows). Many rows of x (prefill): the work is bound by arithmetic, so
// panels of W are dequantized into float32 (in the unpack order, matched by permuting x) and
// multiplied by OpenBLAS sgemm, or rounded to bfloat16 and multiplied by the bf16 GEMM when the
// activations are bfloat16 anyway.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/quantized.h"
#include "backend/cpu/quantized_int8.h"
#include "backend/cpu/quantized_simd.h"
#include "backend/cpu/simd_convert.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// Below this many rows of x the register kernel beats dequantizing W and a GEMM
// (bench/quantized_bench): the bf16 GEMM catches up sooner than OpenBLAS sgemm on few rows.
constexpr int64_t kGemvMaxRowsF32 = 32;
constexpr int64_t kGemvMaxRowsBf16 = 8;
// Rows of W per gemv work item: their packed bytes stay in L1/L2 while every 4-row slice of x
// passes over them.
constexpr int64_t kGemvRowBlock = 16;
// Float32 elements of a dequantized panel of W (2 MiB): fits the L2 of current server cores.
constexpr int64_t kPanelElems = int64_t{1} << 19;

void permute_rows(const float* x, int64_t M, int64_t K, int bits, float* out) {
  parallel_for(M, 1, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) qsimd::permute(x + m * K, K, bits, out + m * K);
  });
}

void group_sums(const float* x, int64_t M, int64_t K, int group_size, float* out) {
  const int64_t G = K / group_size;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < G; ++g) {
      float s = 0.0f;
      for (int64_t i = g * group_size; i < (g + 1) * group_size; ++i) s += x[m * K + i];
      out[m * G + g] = s;
    }
}

void gemv(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
  const int64_t K = w.cols;
  const int64_t N = w.rows;
  std::vector<float> xp(M * K);
  std::vector<float> xs(M * w.groups_per_row());
  for (int64_t m = 0; m < M; ++m) qsimd::permute(x + m * K, K, w.bits, xp.data() + m * K);
  group_sums(x, M, K, w.group_size, xs.data());
  parallel_for(N, kGemvRowBlock, [&](int64_t n0, int64_t n1) {
    for (int64_t nb = n0; nb < n1; nb += kGemvRowBlock)
      qsimd::gemv_rows(xp.data(), xs.data(), M, w, nb, std::min(n1, nb + kGemvRowBlock), y, N);
  });
}

void dequantize_panel(const QuantizedMatrix& w, int64_t r0, int64_t r1, float* panel) {
  parallel_for(r1 - r0, 4, [&](int64_t a, int64_t b) {
    qsimd::dequantize_rows_permuted(w, r0 + a, r0 + b, panel + a * w.cols);
  });
}

int64_t panel_rows(const QuantizedMatrix& w) {
  return std::max<int64_t>(16, kPanelElems / w.cols / 16 * 16);
}

}  // namespace

void dequantize_rows_f32(const QuantizedMatrix& w, int64_t row_begin, int64_t row_end, float* out) {
  const int64_t K = w.cols;
  parallel_for(row_end - row_begin, 4, [&](int64_t a, int64_t b) {
    std::vector<float> tmp(K);
    for (int64_t r = a; r < b; ++r) {
      qsimd::dequantize_rows_permuted(w, row_begin + r, row_begin + r + 1, tmp.data());
      qsimd::unpermute(tmp.data(), K, w.bits, out + r * K);
    }
  });
}

void quantized_matmul_t(const float* x, int64_t M, const QuantizedMatrix& w, float* y, bool bf16_inputs) {
  if (M <= 0 || w.rows == 0) return;
  if (qint8::supports(w)) {
    if (M <= qint8::max_rows(w)) return qint8::gemv(x, M, w, y);
  } else if (M < (bf16_inputs ? kGemvMaxRowsBf16 : kGemvMaxRowsF32)) {
    return gemv(x, M, w, y);
  }
  const int64_t K = w.cols;
  const int64_t N = w.rows;
  std::vector<float> xp(M * K);
  permute_rows(x, M, K, w.bits, xp.data());
  const int64_t nb = std::min(N, panel_rows(w));
  std::vector<float> panel(nb * K);
  if (bf16_inputs) {
    std::vector<uint16_t> xb(M * K), panel_b(nb * K);
    f32_to_bf16(xp.data(), xb.data(), M * K);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
      const int64_t n1 = std::min(N, n0 + nb);
      dequantize_panel(w, n0, n1, panel.data());
      f32_to_bf16(panel.data(), panel_b.data(), (n1 - n0) * K);
      gemm_bf16(true, M, n1 - n0, K, xb.data(), K, panel_b.data(), K, y + n0, N);
    }
    return;
  }
  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t n1 = std::min(N, n0 + nb);
    dequantize_panel(w, n0, n1, panel.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, n1 - n0, K, 1.0f, xp.data(), K, panel.data(), K,
                0.0f, y + n0, N);
  }
}

void quantized_matmul_n(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
  const int64_t K = w.rows;
  const int64_t N = w.cols;
  if (M <= 0 || N == 0) return;
  std::vector<float> yp(M * N, 0.0f);
  const int64_t kb = std::min(K, panel_rows(w));
  std::vector<float> panel(std::max<int64_t>(kb, 1) * N);
  for (int64_t k0 = 0; k0 < K; k0 += kb) {
    const int64_t k1 = std::min(K, k0 + kb);
    dequantize_panel(w, k0, k1, panel.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, k1 - k0, 1.0f, x + k0, K, panel.data(), N,
                1.0f, yp.data(), N);
  }
  parallel_for(M, 1, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) qsimd::unpermute(yp.data() + m * N, N, w.bits, y + m * N);
  });
}

}  // namespace tessera::cpu
