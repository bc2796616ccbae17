// Affine group quantization (MLX's): w ≈ scale * q + bias per group of `group_size` consecutive
// elements of the last axis, q an unsigned `bits`-bit integer. Bits 2, 3, 4, 5, 6, 8; group
// sizes 32, 64, 128. The packed weight is uint32 [..., cols * bits / 32], each row one
// little-endian bitstream; scales and biases are [..., cols / group_size] in the weight's dtype.
#pragma once

#include <tuple>
#include <vector>

#include "tessera/array.h"
#include "tessera/device.h"

namespace tessera {

// (packed weight, scales, biases) of a floating-point w with at least 2 dimensions.
std::tuple<array, array, array> quantize(const array& w, int group_size = 64, int bits = 4, StreamOrDevice s = {});

// q * scale + bias, in the scales' dtype.
array dequantize(const array& w, const array& scales, const array& biases, int group_size = 64, int bits = 4,
                 StreamOrDevice s = {});

// x [..., K] times the quantized 2-D matrix: with `transpose`, w holds [N, K] and the result is
// x · W^T [..., N] (the Linear layout); without, w holds [K, N] and the result is x · W.
// Differentiable with respect to x. On CPUs with AVX-512 VNNI, few rows of x (decoding) times
// 4- or 8-bit W^T round x to steps of 2^-15 of the largest |x| in each block of 32 elements,
// except that at 4 bits bfloat16 x is taken exactly (AVX-512 BF16).
//
// `int8_activations` trades that precision for speed in products with W^T of any number of rows:
// x is rounded to one int8 step of the largest |x| / 127 in each group of W (as llama.cpp rounds
// its activations), for about half the arithmetic of the exact forms and an rms error of ~1.5 %
// of a 4-bit product; each row of x gets exactly what it gets alone. Products it does not reach
// (no AVX-512 VNNI, 2/3/5/6 bits, rows of W not a multiple of 16 groups, x · W) stay exact, and
// so does the gradient.
array quantized_matmul(const array& x, const array& w, const array& scales, const array& biases,
                       bool transpose = true, int group_size = 64, int bits = 4, bool int8_activations = false,
                       StreamOrDevice s = {});

// Makes ready what products of few rows of x with W^T use (on the CPU, a copy of W in its decode
// layout: as much memory again), which the first such product would otherwise make.
void prepare_quantized_matmul(const array& w, const array& scales, const array& biases, int group_size = 64,
                              int bits = 4);

// A packed matrix with its quantization, as quantize returns it.
struct PackedMatrix {
  array w, scales, biases;
  int group_size = 64;
  int bits = 4;
};

// x · W_i^T for several quantized matrices (the Linear layout) of one group size and bits that
// take the same x, e.g. a layer's q, k and v projections: one output per matrix, each exactly
// what quantized_matmul(x, W_i, ..., transpose = true) gives it, computed as one product
// (decoding streams the matrices' weights together, which saves a short product's start and end).
// Differentiable as quantized_matmul.
std::vector<array> quantized_matmuls(const array& x, const std::vector<PackedMatrix>& matrices,
                                     bool int8_activations = false, StreamOrDevice s = {});

// prepare_quantized_matmul for many matrices at once (a model's): their decode layouts share one
// block of memory, large enough for the CPU to map with 2 MiB pages (a block of its own for a
// matrix of a few MiB is not), which is freed with the last of them.
void prepare_quantized_matmul(const std::vector<PackedMatrix>& matrices);

// Rows of the quantized matrix W [V, D] picked by integer `indices` (an embedding lookup),
// dequantized: [indices.shape..., D] in the scales' dtype.
array quantized_take(const array& w, const array& scales, const array& biases, const array& indices,
                     int group_size = 64, int bits = 4, StreamOrDevice s = {});

}  // namespace tessera
