#include "backend/cpu/cross_entropy.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cpu/simd_convert.h"
#include "backend/cpu/softmax.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// Rows per work item: a row of a large vocabulary is already ~0.5 MB of float32.
constexpr int64_t kRowGrain = 1;

int32_t checked_target(const int32_t* targets, int64_t r, int64_t n) {
  const int32_t t = targets[r];
  if (t < 0 || t >= n) {
    throw std::out_of_range("[cross_entropy] target " + std::to_string(t) + " of row " + std::to_string(r) +
                            " is outside [0, " + std::to_string(n) + ").");
  }
  return t;
}

// Row r of the logits as float32: the row itself, or its conversion into `scratch`.
const float* row_f32(Dtype dtype, const void* logits, int64_t r, int64_t n, std::vector<float>& scratch) {
  if (dtype == float32) return static_cast<const float*>(logits) + r * n;
  const auto* row = static_cast<const uint16_t*>(logits) + r * n;
  if (dtype == bfloat16) {
    bf16_to_f32(row, scratch.data(), n);
  } else {
    f16_to_f32(row, scratch.data(), n);
  }
  return scratch.data();
}

void check_dtype(Dtype dtype) {
  if (dtype != float32 && dtype != bfloat16 && dtype != float16) {
    throw std::invalid_argument("[cross_entropy] logits must be float32, bfloat16 or float16, got " +
                                to_string(dtype) + ".");
  }
}

}  // namespace

void cross_entropy_rows(Dtype dtype, const void* logits, const int32_t* targets, int64_t rows, int64_t n,
                        float* loss) {
  check_dtype(dtype);
  parallel_for(rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    std::vector<float> scratch(dtype == float32 ? 0 : n), log_probs(n);
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t t = checked_target(targets, r, n);
      softmax_rows(float32, row_f32(dtype, logits, r, n, scratch), log_probs.data(), 1, n, true);
      loss[r] = -log_probs[t];
    }
  });
}

void cross_entropy_grad_rows(Dtype dtype, const void* logits, const int32_t* targets, const float* g, int64_t rows,
                             int64_t n, void* dx) {
  check_dtype(dtype);
  parallel_for(rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    std::vector<float> scratch(dtype == float32 ? 0 : n), probs(dtype == float32 ? 0 : n);
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t t = checked_target(targets, r, n);
      float* p = dtype == float32 ? static_cast<float*>(dx) + r * n : probs.data();
      softmax_rows(float32, row_f32(dtype, logits, r, n, scratch), p, 1, n, false);
      p[t] -= 1.0f;
      const float scale = g[r];
      for (int64_t i = 0; i < n; ++i) p[i] *= scale;
      if (dtype == bfloat16) f32_to_bf16(p, static_cast<uint16_t*>(dx) + r * n, n);
      if (dtype == float16) f32_to_f16(p, static_cast<uint16_t*>(dx) + r * n, n);
    }
  });
}

}  // namespace tessera::cpu
