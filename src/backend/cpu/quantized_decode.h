// The product of a few rows of x (up to 16, or 32 in the bf16 form) with a 4- or 8-bit matrix,
// from a copy of the matrix laid out for it: the decode layout.
//
// In MLX's layout every 32-bit lane of a 64-byte load holds elements of another group than the
// same lane of the next load, so the kernel of quantized_int8.h converts each load's int32 dot
// products to float and scales them by the lane's group: six more operations for every four dot
// products, and while the core streams weights from DRAM every operation costs bandwidth. The
// decode layout transposes every 16 groups of a row so that lane l of each load holds group l:
// the lanes sum in int32 across a whole block of x (32 elements), and the float work is paid
// once per block instead of once per load. A 512 MB matrix against a ~55 GB/s probe: 4-bit
// 44.6 -> 50.0 GB/s; in cache, 8-bit 66 -> 150 GB/s. It is a copy, made on load for generation
// or by the first few-row product (core/primitives/quantized.cpp): as much memory again as the
// matrix, whose mapped file stays in the page cache.
//
// Layout. Rows go in tiles of kTileRows, whose loads alternate so that one tile is one stream.
// Per tile, per step of 16 groups: the scales then the biases of the step's groups for each row
// (in their stored float type), then chunks j = 0 .. dwords per group - 1, each as one 64-byte
// vector per row whose 32-bit lane l is the dword j of group l of that row.
//
// Forms of x. At 4 bits, bfloat16 x (the activations of bf16 models) is multiplied exactly in
// bfloat16 (quantized_decode_bf16.cpp), on CPUs with AVX-512 BF16. Otherwise x is rounded per block of
// 32 elements to coarse + fine int8 terms, as the kernel in MLX's layout does (quantized_int8.h),
// so the products agree with it to float rounding. Asked for, x is rounded to one int8 term
// (quantized_decode_int8.cpp). Each way a row of a batch gets exactly the product of that row
// alone.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/quantized.h"

namespace tessera::cpu::qdecode {

constexpr int64_t kTileRows = 2;

// Whether w can take the decode layout: 4 or 8 bits, groups of 32, 64 or 128 elements, a
// multiple of 16 groups per row, an even number of rows, and AVX-512 VNNI.
bool supports(const QuantizedMatrix& w);

// The size of w's decode layout in bytes.
size_t layout_bytes(const QuantizedMatrix& w);

// Writes w's decode layout (layout_bytes(w), 64-byte aligned) from its packed words, scales and
// biases, on all threads.
void write_layout(const QuantizedMatrix& w, std::byte* layout);

// How x is multiplied. float32: rounded per block of 32 to two int8 terms, within float
// rounding of the float product. bf16: x holds bfloat16 values (the caller's x was bfloat16),
// which at 4 bits the bf16 form takes exactly. int8: rounded to one int8 term on a scale per group
// (quantized_decode_int8.cpp), an rms error of ~1.5 % of a product for about half the arithmetic.
enum class XForm { float32, bf16, int8 };

// Rows of x that one pass over the layout multiplies: each chunk of weights loaded serves them
// all. gemv takes more in several passes.
constexpr int64_t kMaxRows = 8;

// Most rows of x for which quantized_matmul takes w's decode layout (from there dequantizing into
// a GEMM is as fast, bench/quantized_bench): 16, or 32 for 4-bit weights in the bf16 form, whose
// passes of 8 rows keep their speed (2048 x 2048: 16 rows in 222 us, 24 rows 449 us through the
// GEMM). Any number in the int8 form: its rows must each get what they get alone, prefill
// included, and its passes outrun the bf16 GEMM (1B 4-bit pp512: 389-395 -> 499 t/s).
int64_t max_rows(const QuantizedMatrix& w, XForm form);

// x for gemv: contiguous float32, or in the int8 form also bfloat16 read as it is (no float32 copy
// first).
struct Input {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  Input(const float* x) : f32(x) {}  // implicit: float32 x is the common case
  static Input bfloat16(const uint16_t* x) {
    Input in(nullptr);
    in.bf16 = x;
    return in;
  }
};

// y [M, w.rows] = x [M, w.cols] · dequantize(w)^T from w's decode layout (w supplies the shape,
// bits, group size and scale type; its pointers are not read). x is contiguous (float32 unless the
// form is int8); y contiguous float32; `form` says how x is taken (XForm). Each row of y is exactly
// what that row of x alone gives. Where y_bf16 is given, y is also written there in bfloat16
// (rounded as f32_to_bf16 rounds).
void gemv(Input x, int64_t M, const QuantizedMatrix& w, const std::byte* layout, float* y, XForm form,
          uint16_t* y_bf16 = nullptr);

// One matrix of gemv_many: its shape (w's pointers are not read), decode layout and outputs, as
// gemv takes them.
struct Target {
  const QuantizedMatrix* w;
  const std::byte* layout;
  float* y;
  uint16_t* y_bf16 = nullptr;
};

// Whether a and b can go through one gemv_many: the same columns, bits, group size and scale type.
bool same_geometry(const QuantizedMatrix& a, const QuantizedMatrix& b);

// gemv of one x with several matrices of the same geometry (a layer's q, k and v; its gate and
// up), as one product: x is prepared once and the threads split the matrices' tiles together. Each
// target's y is exactly what gemv gives it. Where the product is short, its start and end cost
// more than its tiles (8 rows of x, the 113 matrices of a 1B 4-bit model, from DRAM on the CPU
// whose two cores talk slowly: 19.5-20.0 ms in 113 products, 17.5-17.9 in 65).
void gemv_many(Input x, int64_t M, const Target* targets, int64_t count, XForm form);

}  // namespace tessera::cpu::qdecode
