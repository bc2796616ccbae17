#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kQueryBlock = 8;

// Adds one row of the mask (n entries spaced by stride) to the scores.
void add_mask_row(Dtype dtype, const void* base, int64_t offset, int64_t stride, int64_t n, float* scores) {
  dispatch_all(dtype, [&](auto tag) {
    using M = typename decltype(tag)::type;
    const M* m = static_cast<const M*>(base) + offset;
    for (int64_t j = 0; j < n; ++j) {
      if constexpr (std::is_same_v<M, bool>) {
        if (!m[j * stride]) scores[j] = -std::numeric_limits<float>::infinity();
      } else if constexpr (std::is_integral_v<M>) {
        scores[j] += static_cast<float>(m[j * stride]);
      } else {
        scores[j] += to_f32(m[j * stride]);
      }
    }
  });
}

template <typename T>
const float* as_f32_row(const T* src, int64_t n, float* scratch) {
  if constexpr (std::is_same_v<T, float>) {
    (void)n;
    (void)scratch;
    return src;
  } else {
    load_row(src, 1, scratch, n);
    return scratch;
  }
}

template <typename T>
void attention_typed(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
                     const AttentionOperand& v, const AttentionOperand& mask, T* out) {
  const int64_t group = p.Hq / p.Hkv;
  const int64_t q_blocks = (p.Tq + kQueryBlock - 1) / kQueryBlock;
  const int64_t items = p.B * p.Hq * q_blocks;
  const T* qd = static_cast<const T*>(q.data);
  const T* kd = static_cast<const T*>(k.data);
  const T* vd = static_cast<const T*>(v.data);
  parallel_chunks(items, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(p.Tk), qrow(p.D), krow(p.D), vrow(p.Dv), acc(p.Dv);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / (p.Hq * q_blocks);
      const int64_t h = (item / q_blocks) % p.Hq;
      const int64_t hk = h / group;
      const int64_t i0 = (item % q_blocks) * kQueryBlock;
      const int64_t i1 = std::min(p.Tq, i0 + kQueryBlock);
      const T* kbase = kd + b * k.strides[0] + hk * k.strides[1];
      const T* vbase = vd + b * v.strides[0] + hk * v.strides[1];
      for (int64_t i = i0; i < i1; ++i) {
        load_row(qd + b * q.strides[0] + h * q.strides[1] + i * q.strides[2], 1, qrow.data(), p.D);
        const int64_t n_keys = p.causal ? std::clamp<int64_t>(i + p.Tk - p.Tq + 1, 0, p.Tk) : p.Tk;
        for (int64_t j = 0; j < n_keys; ++j) {
          const float* kr = as_f32_row(kbase + j * k.strides[2], p.D, krow.data());
          float s = simd::dot(qrow.data(), kr, p.D) * p.scale;
          if (p.softcap) s = *p.softcap * std::tanh(s / *p.softcap);
          scores[j] = s;
        }
        if (p.mask_dtype) {
          add_mask_row(*p.mask_dtype, mask.data, b * mask.strides[0] + h * mask.strides[1] + i * mask.strides[2],
                       mask.strides[3], n_keys, scores.data());
        }
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < n_keys; ++j) m = std::max(m, scores[j]);
        T* dst = out + ((b * p.Hq + h) * p.Tq + i) * p.Dv;
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (m == -std::numeric_limits<float>::infinity()) {
          store_row(acc.data(), dst, p.Dv);
          continue;
        }
        const float sum = simd::exp_shifted(scores.data(), m, scores.data(), n_keys);
        for (int64_t j = 0; j < n_keys; ++j) {
          if (scores[j] == 0.0f) continue;
          const float* vr = as_f32_row(vbase + j * v.strides[2], p.Dv, vrow.data());
          simd::axpy(scores[j], vr, acc.data(), p.Dv);
        }
        simd::scale(acc.data(), 1.0f / sum, p.Dv);
        store_row(acc.data(), dst, p.Dv);
      }
    }
  });
}

}  // namespace

void attention(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
               const AttentionOperand& v, const AttentionOperand& mask, void* out) {
  if (p.B * p.Hq * p.Tq * p.Dv == 0) return;
  dispatch_float(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    attention_typed<T>(p, q, k, v, mask, static_cast<T*>(out));
  });
}

}  // namespace tessera::cpu
