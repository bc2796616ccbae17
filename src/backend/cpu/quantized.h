// CPU kernels for MLX's affine group quantization, on raw row-major memory.
//
// A quantized matrix W [rows, cols] is stored as
//   packed  uint32 [rows, cols * bits / 32]: each row one little-endian bitstream, element i at
//           bits [i * bits, (i + 1) * bits) (elements straddle words for 3, 5 and 6 bits);
//   scales, biases [rows, cols / group_size] in the weight's float type;
// and w ≈ scale * q + bias per group of group_size consecutive elements of a row.
#pragma once

#include <cstdint>

#include "tessera/half.h"

namespace tessera::cpu {

// The float type of the scales and biases (the weight's dtype).
enum class ScaleType { float32, bfloat16, float16 };

template <typename T>
constexpr ScaleType scale_type_of();
template <> constexpr ScaleType scale_type_of<float>() { return ScaleType::float32; }
template <> constexpr ScaleType scale_type_of<bfloat16_t>() { return ScaleType::bfloat16; }
template <> constexpr ScaleType scale_type_of<float16_t>() { return ScaleType::float16; }

struct QuantizedMatrix {
  const uint32_t* packed;
  const void* scales;
  const void* biases;
  ScaleType scale_type;
  int64_t rows;
  int64_t cols;
  int group_size;
  int bits;

  int64_t words_per_row() const { return cols * bits / 32; }
  int64_t groups_per_row() const { return cols / group_size; }
};

// Quantizes w [rows, cols] exactly as MLX does (tests/fixtures/README.md §5). T is float,
// bfloat16_t or float16_t; scales and biases are written in T.
template <typename T>
void affine_quantize(const T* w, int64_t rows, int64_t cols, int group_size, int bits,
                     uint32_t* packed, T* scales, T* biases);

// out[r, c] = q * scale + bias, computed in float32 and rounded once to T.
template <typename T>
void affine_dequantize(const uint32_t* packed, const T* scales, const T* biases, int64_t rows,
                       int64_t cols, int group_size, int bits, T* out);

// The float type whose values x holds (its dtype before the float32 copy the kernels take).
enum class InputType { float32, bfloat16, float16 };

// y [M, w.rows] = x [M, w.cols] · dequantize(w)^T (few rows of x on 4- or 8-bit w: with x
// rounded as quantized_int8.h describes). x and y are contiguous float32. Products outside the
// few-row kernels run on the bf16 GEMM where x's values allow: for bfloat16 x with the
// dequantized weights rounded to bfloat16 as well; for float16 x as split bf16 products of x and
// the weights (gemm_split_bf16.h), as exact as float32; for float32 x on float32 sgemm.
void quantized_matmul_t(const float* x, int64_t M, const QuantizedMatrix& w, float* y,
                        InputType inputs = InputType::float32);

// y [M, w.cols] = x [M, w.rows] · dequantize(w). x and y are contiguous float32; inputs as for
// quantized_matmul_t.
void quantized_matmul_n(const float* x, int64_t M, const QuantizedMatrix& w, float* y,
                        InputType inputs = InputType::float32);

}  // namespace tessera::cpu
