// Dequantizing blocks of an affine-quantized matrix in natural element order, for the
// many-row products that multiply the dequantized weights with a GEMM.
//
// Every element is computed as q * scale + bias in float32 (one fused multiply-add), then
// stored as float32 or rounded once to bfloat16 (round to nearest even).
#pragma once

#include <cstdint>

#include "backend/cpu/quantized.h"

namespace tessera::cpu {

// out[(r - r0) * ldo + (c - c0)] = dequantize(w)[r, c] for rows [r0, r1) and columns [c0, c1).
// c0 and c1 must be multiples of 32 (or c1 == w.cols). Runs on the calling thread.
void dequantize_block_f32(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out,
                          int64_t ldo);
// The same rounded to bfloat16 (raw bit patterns).
void dequantize_block_bf16(const QuantizedMatrix& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                           uint16_t* out, int64_t ldo);

}  // namespace tessera::cpu
