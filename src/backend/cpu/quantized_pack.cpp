// MLX's affine quantization and its inverse, element for element (tests/fixtures/README.md §5).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/quantized.h"
#include "backend/cpu/quantized_simd.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

template <typename T>
float to_f32(T v) {
  return static_cast<float>(v);
}

template <typename T>
T from_f32(float v) {
  return static_cast<T>(v);
}

struct GroupParams {
  float scale;  // float32, used to compute q; stored rounded to the weight type
  float bias;
};

// Chooses scale and bias so that the group's extreme of larger magnitude is represented
// exactly, and with it 0.0 (q0 = edge / scale is an integer).
GroupParams group_params(const float* w, int group_size, int bits) {
  float w_min = w[0];
  float w_max = w[0];
  for (int i = 1; i < group_size; ++i) {
    w_min = std::min(w_min, w[i]);
    w_max = std::max(w_max, w[i]);
  }
  const float n_bins = static_cast<float>((1 << bits) - 1);
  float scale = std::max((w_max - w_min) / n_bins, 1e-7f);
  const bool min_side = std::abs(w_min) > std::abs(w_max);
  if (!min_side) scale = -scale;
  const float edge = min_side ? w_min : w_max;
  const float q0 = std::nearbyint(edge / scale);
  if (q0 != 0.0f) return {edge / q0, edge};
  return {scale, 0.0f};
}

void pack_element(uint32_t* row, int64_t i, int bits, uint32_t q) {
  const int64_t bit = i * bits;
  const int64_t word = bit >> 5;
  const int shift = static_cast<int>(bit & 31);
  row[word] |= q << shift;
  if (shift + bits > 32) row[word + 1] |= q >> (32 - shift);
}

}  // namespace

template <typename T>
void affine_quantize(const T* w, int64_t rows, int64_t cols, int group_size, int bits,
                     uint32_t* packed, T* scales, T* biases) {
  const int64_t words = cols * bits / 32;
  const int64_t groups = cols / group_size;
  const float n_bins = static_cast<float>((1 << bits) - 1);
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> g(group_size);
    for (int64_t r = r0; r < r1; ++r) {
      uint32_t* prow = packed + r * words;
      std::memset(prow, 0, words * sizeof(uint32_t));
      for (int64_t gi = 0; gi < groups; ++gi) {
        const T* src = w + r * cols + gi * group_size;
        for (int i = 0; i < group_size; ++i) g[i] = to_f32(src[i]);
        const GroupParams p = group_params(g.data(), group_size, bits);
        scales[r * groups + gi] = from_f32<T>(p.scale);
        biases[r * groups + gi] = from_f32<T>(p.bias);
        for (int i = 0; i < group_size; ++i) {
          const float q = std::clamp(std::nearbyint((g[i] - p.bias) / p.scale), 0.0f, n_bins);
          pack_element(prow, gi * group_size + i, bits, static_cast<uint32_t>(q));
        }
      }
    }
  });
}

template <typename T>
void affine_dequantize(const uint32_t* packed, const T* scales, const T* biases, int64_t rows,
                       int64_t cols, int group_size, int bits, T* out) {
  const int64_t row_bytes = cols * bits / 8;
  const int64_t groups = cols / group_size;
  const auto* bytes = reinterpret_cast<const uint8_t*>(packed);
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = bytes + r * row_bytes;
      for (int64_t gi = 0; gi < groups; ++gi) {
        const float s = to_f32(scales[r * groups + gi]);
        const float b = to_f32(biases[r * groups + gi]);
        for (int64_t i = gi * group_size; i < (gi + 1) * group_size; ++i) {
          const float q = static_cast<float>(qsimd::extract_bits(row, i, bits));
          const float v = q * s;  // two roundings, as the reference computes it (no fma)
          out[r * cols + i] = from_f32<T>(v + b);
        }
      }
    }
  });
}

#define TESSERA_INSTANTIATE_QUANTIZE(T)                                                          \
  template void affine_quantize<T>(const T*, int64_t, int64_t, int, int, uint32_t*, T*, T*);      \
  template void affine_dequantize<T>(const uint32_t*, const T*, const T*, int64_t, int64_t, int, \
                                     int, T*);
TESSERA_INSTANTIATE_QUANTIZE(float)
TESSERA_INSTANTIATE_QUANTIZE(bfloat16_t)
TESSERA_INSTANTIATE_QUANTIZE(float16_t)
#undef TESSERA_INSTANTIATE_QUANTIZE

}  // namespace tessera::cpu
