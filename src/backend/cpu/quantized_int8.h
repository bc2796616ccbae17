// Decoding with 2-, 3-, 4-, 5-, 6- and 8-bit weights on integer dot products (AVX-512 VNNI), or
// on bfloat16 dot products (AVX-512 BF16) for several rows of bfloat16 x and 4-bit weights.
//
// Unpacking 4-bit weights into floats costs more than reading them, so the few-row product
// instead rounds each row of x once per block of 32 elements to t * dx with dx = max |x| / 127
// and t = coarse + fine / 256, coarse and fine int8, and multiplies the unpacked weight bytes
// with both terms in int32 (vpdpbusd: weights as the unsigned operand, x as the signed one).
// Per weight group g of a row:
//   sum_i w_i x_i ≈ scale_g * sum_blocks dx_b * sum_i q_i t_i + bias_g * sum_{i in g} x_i,
// where the bias term uses the exact float sums of x. A single int8 term (as llama.cpp's Q8
// activations) would add an error as large as that of 8-bit weights, enough to change greedy
// tokens of small models; the fine term brings it to 2^-15 of each block's maximum, below
// bfloat16 rounding, for one more vpdpbusd per weight vector.
//
// When x holds bfloat16 values (bf16 models) and has several rows, 4-bit weights are instead
// unpacked into the bfloat16 values 128 + q (the nibble under a fixed exponent: one bitwise op)
// and multiplied with x exactly by vdpbf16ps, the 128 folded into the bias term: per pair of rows
// four dot products and one FMA per 128 weights instead of four dot products and four more
// operations, and no rounding of x at all.
//
// Each 64-byte load of packed weights is unpacked once and multiplied into every row of x of the
// pass (up to 8), and each chunk of x serves several weight rows: the product is bound by the
// multiply units, not by unpacking or loads.
#pragma once

#include <cstdint>

#include "backend/cpu/quantized.h"

namespace tessera::cpu::qint8 {

// Whether gemv handles w on this CPU: 2 to 8 bits but 7, rows a multiple of one SIMD block (128
// elements at 4 bits, 64 at the others), groups of 32, 64, 128... elements, and AVX-512 VNNI
// present.
bool supports(const QuantizedMatrix& w);

// Most rows of x for which gemv beats dequantizing w into a GEMM (bench/quantized_bench).
int64_t max_rows(const QuantizedMatrix& w);

// y [M, w.rows] = x [M, w.cols] · dequantize(w)^T with x rounded to int8 (or taken in bf16) as
// described above.
// x and y are contiguous float32; requires supports(w).
void gemv(const float* x, int64_t M, const QuantizedMatrix& w, float* y);

// gemv without AVX-512 VBMI (2-, 3-, 5- and 6-bit fields unpacked with AVX-512 BW): what CPUs
// without VBMI run, for tests on CPUs with it. Same results as gemv.
void gemv_avx512_bw(const float* x, int64_t M, const QuantizedMatrix& w, float* y);

}  // namespace tessera::cpu::qint8
