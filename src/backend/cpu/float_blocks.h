// Elementwise work on 16-bit floats in blocks: a block is widened to float32 with the SIMD
// converters, computed in float32, and rounded back once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend/cpu/simd_convert.h"
#include "core/dtype_dispatch.h"

namespace tessera::cpu {

inline constexpr int64_t kFloatBlock = 512;

template <typename T>
inline void widen(const T* src, float* dst, int64_t n) {
  if constexpr (std::is_same_v<T, bfloat16_t>) {
    bf16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n);
  } else if constexpr (std::is_same_v<T, float16_t>) {
    f16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
  }
}

template <typename T>
inline void narrow(const float* src, T* dst, int64_t n) {
  if constexpr (std::is_same_v<T, bfloat16_t>) {
    f32_to_bf16(src, reinterpret_cast<uint16_t*>(dst), n);
  } else if constexpr (std::is_same_v<T, float16_t>) {
    f32_to_f16(src, reinterpret_cast<uint16_t*>(dst), n);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = cast_to<T>(src[i]);
  }
}

}  // namespace tessera::cpu
