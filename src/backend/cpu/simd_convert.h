// Bulk conversion between float32 and the 16-bit float formats, bit-identical to the scalar
// conversions of tessera/half.h (round to nearest even, NaN stays NaN), vectorized with
// AVX-512 when the CPU has it. Large conversions are split over the thread pool.
#pragma once

#include <cstdint>

namespace tessera::cpu {

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n);
void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16(const float* src, uint16_t* dst, int64_t n);

}  // namespace tessera::cpu
