// SIMD building blocks of the quantized kernels (quantized_simd.cpp, Highway dynamic dispatch).
//
// The unpack order: a SIMD block of a packed row is unpacked into several float vectors at
// once (for 4 bits: the low nibbles of N bytes, then the high nibbles), so the elements come
// out in a fixed permutation of their natural order. Rather than shuffling them back, the
// kernels permute the activations the same way once per call: a dot product does not care
// about the order of its terms.
#pragma once

#include <cstdint>

#include "backend/cpu/quantized.h"
#include "tessera/half.h"

namespace tessera::cpu::qsimd {

// out = x [K] in the unpack order of `bits`.
void permute(const float* x, int64_t K, int bits, float* out);

// For output rows n in [n0, n1): y[m * ldy + n] = sum_k x[m, k] * dequantize(w)[n, k], where
// xp [M, w.cols] holds x permuted (permute()) and xsums [M, w.groups_per_row()] its per-group sums.
void gemv_rows(const float* xp, const float* xsums, int64_t M, const QuantizedMatrix& w,
               int64_t n0, int64_t n1, float* y, int64_t ldy);

// Element i of a packed row (little-endian bitstream of `bits`-wide elements).
inline uint32_t extract_bits(const uint8_t* row, int64_t i, int bits) {
  const int64_t bit = i * bits;
  const int64_t byte = bit >> 3;
  const int shift = static_cast<int>(bit & 7);
  uint32_t v = row[byte] >> shift;
  if (shift + bits > 8) v |= static_cast<uint32_t>(row[byte + 1]) << (8 - shift);
  return v & ((1u << bits) - 1u);
}

}  // namespace tessera::cpu::qsimd
