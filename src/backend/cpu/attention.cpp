#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/attention_rows.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kQueryBlock = 8;
// From kPrefillQueries queries on (prefill, training) scores and outputs are GEMMs over blocks
// of kGemmBlock queries, one block per task; below it (decoding) each query row is its own
// dot-product loop.
constexpr int64_t kGemmBlock = 64;

void dot_rows(const float* q, const float* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  simd::dot_rows(q, rows, ld, n, d, out);
}
void dot_rows(const float* q, const bfloat16_t* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  simd::dot_rows_bf16(q, reinterpret_cast<const uint16_t*>(rows), ld, n, d, out);
}
void dot_rows(const float* q, const float16_t* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  simd::dot_rows_f16(q, reinterpret_cast<const uint16_t*>(rows), ld, n, d, out);
}
void axpy_rows(const float* p, const float* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  simd::axpy_rows(p, rows, ld, n, d, acc);
}
void axpy_rows(const float* p, const bfloat16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  simd::axpy_rows_bf16(p, reinterpret_cast<const uint16_t*>(rows), ld, n, d, acc);
}
void axpy_rows(const float* p, const float16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  simd::axpy_rows_f16(p, reinterpret_cast<const uint16_t*>(rows), ld, n, d, acc);
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
  // Consecutive items are the query heads of one key/value head, so a thread reuses K and V
  // from its cache. Tiny problems (small models) stay on one thread: waking others costs more.
  const int64_t work_per_item = std::min(kQueryBlock, p.Tq) * p.Tk * (p.D + p.Dv);
  parallel_chunks(items, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, work_per_item)),
                  [&](int64_t begin, int64_t end) {
    std::vector<float> scores(p.Tk), qrow(p.D), acc(p.Dv);
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
        simd::scale(qrow.data(), p.scale, p.D);
        const int64_t n_keys = p.causal ? std::clamp<int64_t>(i + p.Tk - p.Tq + 1, 0, p.Tk) : p.Tk;
        dot_rows(qrow.data(), kbase, k.strides[2], n_keys, p.D, scores.data());
        if (p.softcap) {
          const float cap = *p.softcap, inv_cap = 1.0f / *p.softcap;
          for (int64_t j = 0; j < n_keys; ++j) scores[j] = cap * std::tanh(scores[j] * inv_cap);
        }
        if (p.mask_dtype) {
          add_mask_row(*p.mask_dtype, mask.data, b * mask.strides[0] + h * mask.strides[1] + i * mask.strides[2],
                       mask.strides[3], n_keys, scores.data());
        }
        T* dst = out + ((b * p.Hq + h) * p.Tq + i) * p.Dv;
        std::fill(acc.begin(), acc.end(), 0.0f);
        const float m = n_keys ? simd::max(scores.data(), n_keys) : -std::numeric_limits<float>::infinity();
        if (m == -std::numeric_limits<float>::infinity()) {
          store_row(acc.data(), dst, p.Dv);
          continue;
        }
        const float sum = simd::exp_shifted(scores.data(), m, scores.data(), n_keys);
        axpy_rows(scores.data(), vbase, v.strides[2], n_keys, p.Dv, acc.data());
        simd::scale(acc.data(), 1.0f / sum, p.Dv);
        store_row(acc.data(), dst, p.Dv);
      }
    }
  });
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

template <typename T>
void attention_gemm(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
                    const AttentionOperand& v, const AttentionOperand& mask, T* out) {
  const int64_t group = p.Hq / p.Hkv;
  const int64_t Tkp = round_up(p.Tk, simd::kGemmColumns), Dvp = round_up(p.Dv, simd::kGemmColumns);
  const T* qd = static_cast<const T*>(q.data);
  const T* kd = static_cast<const T*>(k.data);
  const T* vd = static_cast<const T*>(v.data);
  // K^T and V of every (batch, kv head) in float32, zero-padded to whole kernel columns, so
  // both products are plain row-major GEMMs shared by the heads of a group.
  std::vector<float> kt(p.B * p.Hkv * p.D * Tkp, 0.0f), vp(p.B * p.Hkv * p.Tk * Dvp, 0.0f);
  parallel_chunks(p.B * p.Hkv, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(p.D);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / p.Hkv, hk = bh % p.Hkv;
      float* ktb = kt.data() + bh * p.D * Tkp;
      for (int64_t j = 0; j < p.Tk; ++j) {
        load_row(kd + b * k.strides[0] + hk * k.strides[1] + j * k.strides[2], 1, row.data(), p.D);
        for (int64_t d = 0; d < p.D; ++d) ktb[d * Tkp + j] = row[d];
      }
      float* vpb = vp.data() + bh * p.Tk * Dvp;
      for (int64_t j = 0; j < p.Tk; ++j) {
        load_row(vd + b * v.strides[0] + hk * v.strides[1] + j * v.strides[2], 1, vpb + j * Dvp, p.Dv);
      }
    }
  });
  const int64_t q_blocks = (p.Tq + kGemmBlock - 1) / kGemmBlock;
  parallel_chunks(p.B * p.Hq * q_blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> qbuf(kGemmBlock * p.D), scores(kGemmBlock * Tkp), obuf(kGemmBlock * Dvp), norm(kGemmBlock);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / (p.Hq * q_blocks);
      const int64_t h = (item / q_blocks) % p.Hq;
      const int64_t bh = b * p.Hkv + h / group;
      const int64_t i0 = (item % q_blocks) * kGemmBlock;
      const int64_t rows = std::min(kGemmBlock, p.Tq - i0);
      const int64_t n_keys = p.causal ? std::clamp<int64_t>(i0 + rows + p.Tk - p.Tq, 0, p.Tk) : p.Tk;
      const int64_t n_cols = round_up(n_keys, simd::kGemmColumns);
      for (int64_t r = 0; r < rows; ++r) {
        load_row(qd + b * q.strides[0] + h * q.strides[1] + (i0 + r) * q.strides[2], 1, qbuf.data() + r * p.D, p.D);
      }
      if (n_keys > 0) {
        simd::gemm_nn(rows, n_cols, p.D, p.scale, qbuf.data(), p.D, kt.data() + bh * p.D * Tkp, Tkp, scores.data(),
                      n_cols);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        float* row = scores.data() + r * n_cols;
        if (p.softcap) {
          const float cap = *p.softcap, inv_cap = 1.0f / *p.softcap;
          for (int64_t j = 0; j < n_keys; ++j) row[j] = cap * std::tanh(row[j] * inv_cap);
        }
        if (p.mask_dtype) {
          add_mask_row(*p.mask_dtype, mask.data, b * mask.strides[0] + h * mask.strides[1] + i * mask.strides[2],
                       mask.strides[3], n_keys, row);
        }
        const int64_t limit = p.causal ? std::clamp<int64_t>(i + p.Tk - p.Tq + 1, 0, n_keys) : n_keys;
        norm[r] = softmax_scores(row, n_keys, limit);
      }
      if (n_keys > 0) {
        simd::gemm_nn(rows, Dvp, n_keys, 1.0f, scores.data(), n_cols, vp.data() + bh * p.Tk * Dvp, Dvp, obuf.data(),
                      Dvp);
      } else {
        std::fill(obuf.begin(), obuf.end(), 0.0f);
      }
      for (int64_t r = 0; r < rows; ++r) {
        float* o = obuf.data() + r * Dvp;
        simd::scale(o, norm[r] > 0.0f ? 1.0f / norm[r] : 0.0f, p.Dv);
        store_row(o, out + ((b * p.Hq + h) * p.Tq + i0 + r) * p.Dv, p.Dv);
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
    if (attention_bf16(p, q, k, v, mask, out)) return;
    if (p.Tq >= kPrefillQueries) attention_gemm<T>(p, q, k, v, mask, static_cast<T*>(out));
    else attention_typed<T>(p, q, k, v, mask, static_cast<T*>(out));
  });
}

}  // namespace tessera::cpu
