// Vectorized float32 transcendental functions for the unary kernels (Highway, runtime dispatch
// to the widest instruction set the CPU has). Results match the libm functions to a few ulp,
// including infinities, NaN and the edges of the domain.
#pragma once

#include <cstdint>

namespace tessera::cpu {

void vector_exp(const float* x, float* y, int64_t n);
void vector_log(const float* x, float* y, int64_t n);
void vector_tanh(const float* x, float* y, int64_t n);
void vector_sigmoid(const float* x, float* y, int64_t n);

}  // namespace tessera::cpu
