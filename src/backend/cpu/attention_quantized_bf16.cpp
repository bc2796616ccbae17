// Attention over a quantized cache for many query rows of a bfloat16 model (prefill on top of the
// cache): the float32 blocks of attention_quantized.cpp ran at ~60 % of the bfloat16 kernel's
// speed there (a 2,000-token prompt of a 1B model: 230 against 372 t/s with a float cache). So
// the cache's heads are dequantized into bfloat16, a group of heads at a time, and
// attention_bf16 runs on them with its transposed keys and bfloat16 value products. The copy is
// paid once per call for every query row, which few rows (decoding) would not repay: they read
// the codes in place.
#include <algorithm>
#include <vector>

#include "backend/cpu/attention_bf16.h"
#include "backend/cpu/attention_quantized.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_convert.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// The most bytes of bfloat16 keys and values held at once: a group of heads.
constexpr int64_t kCopyBytes = 32 << 20;

// Heads [h0, h0 + n) of rows, [Tk, D] each, as bfloat16.
void dequantize_heads(const QuantizedRows& rows, int64_t h0, int64_t n, const QuantizedAttentionParams& p,
                      uint16_t* out) {
  const int64_t size = p.Tk * p.D;
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> head;
    head.resize(static_cast<size_t>(size));
    for (int64_t h = begin; h < end; ++h) {
      dequantize_head(rows, h0 + h, p.Tk, p.D, p.bits, p.group_size, head.data());
      f32_to_bf16(head.data(), out + h * size, size);
    }
  });
}

}  // namespace

bool quantized_attention_bf16(const QuantizedAttentionParams& p, const float* q, const QuantizedRows& k,
                              const QuantizedRows& v, float* out) {
  const int64_t group = p.Hq / p.Hkv, D = p.D;
  if (!p.q_bfloat16 || p.Tq < kPrefillQueries || p.Tk == 0 || (D != 64 && D != 128 && D != 256) ||
      !cpu_has_avx512_bf16()) {
    return false;
  }
  const int64_t q_size = p.B * p.Hq * p.Tq * D, head_size = p.Tk * D;
  std::vector<uint16_t> qb(static_cast<size_t>(q_size)), ob(static_cast<size_t>(q_size));
  f32_to_bf16(q, qb.data(), q_size);  // exact: q holds bfloat16 values
  const int64_t heads = std::clamp<int64_t>(kCopyBytes / (4 * head_size), 1, p.Hkv);
  std::vector<uint16_t> kb(static_cast<size_t>(heads * head_size)), vb(kb.size());
  AttentionParams ap;
  ap.dtype = bfloat16;
  ap.B = 1, ap.Tq = p.Tq, ap.Tk = p.Tk, ap.D = D, ap.Dv = D;
  ap.scale = p.scale, ap.causal = p.causal, ap.softcap = p.softcap;
  if (p.mask) ap.mask_dtype = bool_;
  const AttentionOperand keys{kb.data(), {0, head_size, D, 1}}, values{vb.data(), {0, head_size, D, 1}};
  const AttentionOperand mask{p.mask, {0, 0, p.Tk, 1}};
  for (int64_t b = 0; b < p.B; ++b) {
    for (int64_t h0 = 0; h0 < p.Hkv; h0 += heads) {
      const int64_t n = std::min(heads, p.Hkv - h0), first = (b * p.Hq + h0 * group) * p.Tq * D;
      dequantize_heads(k, b * p.Hkv + h0, n, p, kb.data());
      dequantize_heads(v, b * p.Hkv + h0, n, p, vb.data());
      ap.Hkv = n, ap.Hq = n * group;
      const AttentionOperand queries{qb.data() + first, {0, p.Tq * D, D, 1}};
      if (!attention_bf16(ap, queries, keys, values, mask, ob.data() + first)) return false;
    }
  }
  bf16_to_f32(ob.data(), out, q_size);
  return true;
}

}  // namespace tessera::cpu
