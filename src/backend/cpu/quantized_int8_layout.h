// The layout of prepared x and of weight chunks, shared by the x preparation and by the decode
// kernels of every instruction set (quantized_int8.cpp, quantized_int8_vbmi.cpp); the bf16 form's
// pieces are shared with the decode layout's (quantized_decode_bf16.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace tessera::cpu::qint8::detail {

// Elements of x that share one int8 scale dx.
constexpr int64_t kBlock = 32;
// Groups whose scales and biases one vector holds: the unit of the loop over a weight row.
constexpr int64_t kGroupsPerStep = 16;

// A chunk is the weights one vector of unpacked bytes holds: 128 elements at 4 bits (one 64-byte
// load), 64 at the other widths (8 * bits bytes). The int32 lane l of its dot products sums the
// E / 16 consecutive elements starting at l * E / 16 (at 4 bits: the even ones from the low
// nibbles, the odd ones from the high nibbles).
constexpr int64_t chunk_elems(int bits) { return bits == 4 ? 128 : 64; }
constexpr int64_t chunk_bytes(int bits) { return chunk_elems(bits) * bits / 8; }

// Each element of x is t * dx with t = coarse + fine / kFineSteps: two int8 terms on the same
// dx, so the dot product of a chunk is (coarse · q) * kFineSteps + fine · q in int32 (at most
// 4 * 255 * (127 * 256 + 127) per lane: no overflow).
constexpr int kFineShift = 8;
constexpr float kFineSteps = 1 << kFineShift;

// How x enters the dot products.
//   int8: two int8 terms, in the unpack order: per chunk E coarse bytes, then E fine bytes; with
//         dx / kFineSteps for each int32 lane of each chunk.
//   bf16: x holds bfloat16 values, multiplied exactly by the weights unpacked into bfloat16
//         (vdpbf16ps): per chunk four vectors of 32 bfloat16 pairs, pair l of vector j holding
//         the elements that nibbles j and j + 4 of 32-bit lane l of the packed weights
//         multiply (see unpack_bf16).
enum class Form { int8, bf16 };

// From this many rows of x on, 4-bit products take x in the bf16 form when it is exact. One row
// too, though the int8 form is cheaper for it: a row of a batch or of a speculative
// verification pass must get the bits it gets alone.
constexpr int64_t kMinBf16Rows = 1;

// x prepared for the kernel, with the exact float sums of every weight group. Row m of each
// array starts at m times its row stride.
struct PreparedX {
  int64_t chunks;
  int64_t groups;
  int64_t group_stride;  // groups rounded up to a whole step: vector loads stay in the row
  int64_t row_bytes;     // of data
  // One cache-line aligned allocation: chunks of x loaded across two lines would halve the
  // load throughput that bounds the kernel.
  std::unique_ptr<void, decltype(&std::free)> storage{nullptr, &std::free};
  std::byte* data;
  float* lane_dx;  // [M, chunks * 16], int8 form only
  float* sums;     // [M, group_stride]
};

// Rows of x per pass over the weights: each unpacked chunk of weights serves all of them.
constexpr int kMaxPassRows = 8;

// In the bf16 form each 4-bit weight q becomes the bfloat16 value kBf16Offset + q: the nibble
// in the low mantissa bits under the exponent of 128 (exact, one bitwise op). The offset goes
// with the bias: per group (bias - kBf16Offset * scale) · sum x.
constexpr float kBf16Offset = 128.0f;

// sums[g] += the float sum of x's elements in group g, for x [K] (AVX-512).
void add_group_sums(const float* x, int64_t K, int group_size, float* sums);

}  // namespace tessera::cpu::qint8::detail
