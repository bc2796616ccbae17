// SIMD row primitives shared by the row kernels (softmax, norms, rope, attention).
// Each works on contiguous float32 rows and picks the widest instruction set the CPU has at
// run time (Highway dynamic dispatch).
#pragma once

#include <cstdint>

namespace tessera::cpu::simd {

float dot(const float* a, const float* b, int64_t n);
float sum(const float* x, int64_t n);
float sum_squares(const float* x, int64_t n);
// The largest element; NaN if x holds one.
float max(const float* x, int64_t n);
// The first i with x[i] == value, or n.
int64_t find_first(const float* x, int64_t n, float value);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, int64_t n);
// x *= s
void scale(float* x, float s, int64_t n);
// out = exp(x - shift); returns the sum of out. out may alias x.
float exp_shifted(const float* x, float shift, float* out, int64_t n);
// out = x * s * w (w may be null: no weight)
void scale_weighted(const float* x, float s, const float* w, float* out, int64_t n);

// Rotates the pairs (a[i], b[i]) in place by the angles whose cosines and sines are given.
void rotate_pairs(float* a, float* b, const float* cos, const float* sin, int64_t n);

// C = alpha * A @ B for row-major A [M, K] (lda), B [K, N] (ldb) and C [M, N] (ldc), with N a
// multiple of kGemmColumns (callers pad B and C). Single-threaded: attention runs one per task.
inline constexpr int64_t kGemmColumns = 32;
void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc);

// Attention inner loops over n rows of a matrix (rows ld elements apart) whose elements are
// float32 or raw bf16 / f16 bits:
//   out[j] = dot(q, row_j) for j < n, over d features;
//   acc += sum_j p[j] * row_j, skipping rows with p[j] == 0.
void dot_rows(const float* q, const float* rows, int64_t ld, int64_t n, int64_t d, float* out);
void dot_rows_bf16(const float* q, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* out);
void dot_rows_f16(const float* q, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* out);
void axpy_rows(const float* p, const float* rows, int64_t ld, int64_t n, int64_t d, float* acc);
void axpy_rows_bf16(const float* p, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc);
void axpy_rows_f16(const float* p, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc);

}  // namespace tessera::cpu::simd
