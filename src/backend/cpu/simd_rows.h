// SIMD row primitives shared by the row kernels (softmax, norms, rope, attention).
// Each works on contiguous float32 rows and picks the widest instruction set the CPU has at
// run time (Highway dynamic dispatch).
#pragma once

#include <cstdint>

namespace tessera::cpu::simd {

float dot(const float* a, const float* b, int64_t n);
float sum(const float* x, int64_t n);
float sum_squares(const float* x, int64_t n);
float max(const float* x, int64_t n);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, int64_t n);
// x *= s
void scale(float* x, float s, int64_t n);
// out = exp(x - shift); returns the sum of out. out may alias x.
float exp_shifted(const float* x, float shift, float* out, int64_t n);
// out = x * s * w (w may be null: no weight)
void scale_weighted(const float* x, float s, const float* w, float* out, int64_t n);

}  // namespace tessera::cpu::simd
