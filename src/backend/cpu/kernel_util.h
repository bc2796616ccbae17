// Helpers shared by the numeric CPU kernels: strided iteration, float32 row staging for
// half-precision inputs, and the one place that decides how kernel loops are parallelised.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#include "backend/cpu/simd_convert.h"
#include "tessera/half.h"

namespace tessera::cpu {

// Runs fn(begin, end) over [0, n) split into contiguous chunks.
void parallel_chunks(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

template <typename T>
inline float to_f32(T x) {
  return static_cast<float>(x);
}

template <typename T>
inline T from_f32(float x) {
  return static_cast<T>(x);
}

// Loads n elements spaced by stride into a float32 row.
template <typename T>
inline void load_row(const T* src, int64_t stride, float* dst, int64_t n) {
  if (stride == 1) {
    if constexpr (std::is_same_v<T, float>) {
      std::memcpy(dst, src, n * sizeof(float));
      return;
    } else if constexpr (std::is_same_v<T, bfloat16_t>) {
      bf16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n);
      return;
    } else if constexpr (std::is_same_v<T, float16_t>) {
      f16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n);
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = to_f32(src[i * stride]);
}

template <typename T>
inline void store_row(const float* src, T* dst, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    if (dst != src) std::memcpy(dst, src, n * sizeof(float));
  } else if constexpr (std::is_same_v<T, bfloat16_t>) {
    f32_to_bf16(src, reinterpret_cast<uint16_t*>(dst), n);
  } else if constexpr (std::is_same_v<T, float16_t>) {
    f32_to_f16(src, reinterpret_cast<uint16_t*>(dst), n);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = from_f32<T>(src[i]);
  }
}

// Walks the element offsets of a strided view in row-major logical order.
class StridedWalker {
 public:
  StridedWalker(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides)
      : shape_(shape), strides_(strides), index_(shape.size(), 0) {}

  int64_t offset() const { return offset_; }

  void next() {
    for (int d = static_cast<int>(shape_.size()) - 1; d >= 0; --d) {
      if (++index_[d] < shape_[d]) {
        offset_ += strides_[d];
        return;
      }
      offset_ -= strides_[d] * (shape_[d] - 1);
      index_[d] = 0;
    }
  }

  // Jumps to the n-th element in row-major order.
  void seek(int64_t n) {
    offset_ = 0;
    for (int d = static_cast<int>(shape_.size()) - 1; d >= 0; --d) {
      index_[d] = shape_[d] ? n % shape_[d] : 0;
      n = shape_[d] ? n / shape_[d] : 0;
      offset_ += index_[d] * strides_[d];
    }
  }

 private:
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_;
  std::vector<int64_t> index_;
  int64_t offset_ = 0;
};

}  // namespace tessera::cpu
