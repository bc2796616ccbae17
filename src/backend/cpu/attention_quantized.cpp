// Each item is a block of query rows of one key/value head (the query heads of its group and
// their positions). Keys and values are dequantized 16 rows at a time into a float32 block that
// every query row of the item then reads: the dequantization is paid once per item, not per query
// head, and nothing of the size of the cache is written. Scores of 16 keys are reduced into one
// vector at once (sum_lanes.h), or, for many rows, read from the block transposed; a bfloat16
// model's decoding dots its queries with 4-bit key codes directly (dot_codes4). Without AVX-512,
// or for head sizes that are not a multiple of 32, the same steps run in plain loops.
#include "backend/cpu/attention_quantized.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/attention_rows.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_rows.h"
#include "backend/cpu/sum_lanes.h"
#include "backend/cpu/thread_pool.h"
#include "tessera/dtype.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kKeyBlock = 16;
// Query rows per item: enough to share each dequantized block, few enough that their scores
// (kRowBlock x Tk floats) stay in L2.
constexpr int64_t kRowBlock = 32;

struct Head {
  const uint8_t* codes;
  const float* scales;
  const float* biases;
  int64_t row_bytes, groups;
};

Head head_of(const QuantizedRows& rows, int64_t index, int64_t row_bytes, int64_t groups) {
  return {rows.codes + index * rows.cap * row_bytes, rows.scales + index * rows.cap * groups,
          rows.biases + index * rows.cap * groups, row_bytes, groups};
}

// Rows [j, j + n) of a head as float32, D apart.
void dequantize_rows_scalar(const Head& h, int64_t j, int64_t n, int64_t D, int bits, int gs, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const uint8_t* codes = h.codes + (j + t) * h.row_bytes;
    const float* s = h.scales + (j + t) * h.groups;
    const float* b = h.biases + (j + t) * h.groups;
    for (int64_t d = 0; d < D; ++d) {
      const int code = bits == 8 ? codes[d] : (codes[d / 2] >> ((d % 2) * 4)) & 0xF;
      out[t * D + d] = s[d / gs] * static_cast<float>(code) + b[d / gs];
    }
  }
}

TESSERA_TARGET_AVX512 void dequantize_rows_avx512(const Head& h, int64_t j, int64_t n, int64_t D, int bits, int gs,
                                                  float* out) {
  const __m512i lo_index = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi_index = _mm512_add_epi32(lo_index, _mm512_set1_epi32(8));
  for (int64_t t = 0; t < n; ++t) {
    const uint8_t* codes = h.codes + (j + t) * h.row_bytes;
    const float* s = h.scales + (j + t) * h.groups;
    const float* b = h.biases + (j + t) * h.groups;
    float* row = out + t * D;
    for (int64_t d = 0; d < D; d += 32) {
      __m512i c0, c1;
      if (bits == 8) {
        c0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + d)));
        c1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + d + 16)));
      } else {
        // Byte k holds elements 2k (low nibble) and 2k + 1.
        const __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + d / 2)));
        const __m512i lo = _mm512_and_si512(x, _mm512_set1_epi32(0xF)), hi = _mm512_srli_epi32(x, 4);
        c0 = _mm512_permutex2var_epi32(lo, lo_index, hi);
        c1 = _mm512_permutex2var_epi32(lo, hi_index, hi);
      }
      _mm512_storeu_ps(row + d, _mm512_fmadd_ps(_mm512_cvtepi32_ps(c0), _mm512_set1_ps(s[d / gs]),
                                                _mm512_set1_ps(b[d / gs])));
      _mm512_storeu_ps(row + d + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(c1), _mm512_set1_ps(s[(d + 16) / gs]),
                                                     _mm512_set1_ps(b[(d + 16) / gs])));
    }
  }
}

// scores[t] = q · keys[t] for n <= 16 rows of D floats.
TESSERA_TARGET_AVX512 void dot_block_avx512(const float* q, const float* keys, int64_t n, int64_t D, float* scores) {
  __m512 a[kKeyBlock];
  for (int t = 0; t < kKeyBlock; ++t) {
    __m512 s = _mm512_setzero_ps();
    if (t < n)
      for (int64_t d = 0; d < D; d += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(keys + t * D + d), s);
    a[t] = s;
  }
  alignas(64) float sums[kKeyBlock];
  _mm512_store_ps(sums, sum_lanes(a));
  std::copy(sums, sums + n, scores);
}

// scores[r][t] = q[r] · keys[t] for 4 query rows and n <= 16 keys given transposed (keys_t[d]
// holds element d of the 16 keys): broadcast products without any horizontal sum, for blocks of
// many query rows (prefill).
TESSERA_TARGET_AVX512 void dot_block_rows4(const float* const (&q)[4], const float* keys_t, int64_t n, int64_t D,
                                           float* const (&scores)[4]) {
  __m512 acc[4][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; d += 2) {
    const __m512 k0 = _mm512_loadu_ps(keys_t + d * kKeyBlock), k1 = _mm512_loadu_ps(keys_t + (d + 1) * kKeyBlock);
    for (int r = 0; r < 4; ++r) {
      acc[r][0] = _mm512_fmadd_ps(_mm512_set1_ps(q[r][d]), k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_set1_ps(q[r][d + 1]), k1, acc[r][1]);
    }
  }
  const __mmask16 keep = static_cast<__mmask16>((1u << n) - 1);
  for (int r = 0; r < 4; ++r) _mm512_mask_storeu_ps(scores[r], keep, _mm512_add_ps(acc[r][0], acc[r][1]));
}

void dot_block_scalar(const float* q, const float* keys, int64_t n, int64_t D, float* scores) {
  for (int64_t t = 0; t < n; ++t) {
    float s = 0.0f;
    for (int64_t d = 0; d < D; ++d) s += q[d] * keys[t * D + d];
    scores[t] = s;
  }
}

// acc += sum over t < n of p[t] * values[t] (rows of D floats, D a multiple of 32).
TESSERA_TARGET_AVX512 void weigh_block_avx512(const float* p, const float* values, int64_t n, int64_t D, float* acc) {
  for (int64_t d = 0; d < D; d += 32) {
    __m512 a0 = _mm512_loadu_ps(acc + d), a1 = _mm512_loadu_ps(acc + d + 16);
    for (int64_t t = 0; t < n; ++t) {
      const __m512 w = _mm512_set1_ps(p[t]);
      a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(values + t * D + d), a0);
      a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(values + t * D + d + 16), a1);
    }
    _mm512_storeu_ps(acc + d, a0);
    _mm512_storeu_ps(acc + d + 16, a1);
  }
}

void weigh_block_scalar(const float* p, const float* values, int64_t n, int64_t D, float* acc) {
  for (int64_t t = 0; t < n; ++t) {
    const float w = p[t];
    if (w == 0.0f) continue;
    const float* row = values + t * D;
    for (int64_t d = 0; d < D; ++d) acc[d] += w * row[d];
  }
}

// Decoding scores straight from 4-bit codes, for bfloat16 q: each nibble c becomes the bfloat16
// 128 + c with one bitwise operation (the pairs of a dword are elements 2k and 2k + 1, the two
// nibbles of byte k), vdpbf16ps multiplies them with q exactly, and the 128 goes into the bias
// term: s = scale * (q . (128 + c)) + (bias - 128 scale) * sum(q) per group. No float copy of
// the keys is written.
constexpr float kCodeOffset = 128.0f;

struct BfloatRows {
  const uint16_t* q[kKeyBlock];  // bfloat16 words of each query row
  const float* sums[kKeyBlock];  // each row's sum of q per group
  int64_t R;
};

// 32 codes (16 bytes) as 16 dwords of bfloat16 pairs 128 + c.
TESSERA_TARGET_AVX512_BF16 inline __m512bh codes_as_bf16(const uint8_t* bytes) {
  const __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
  const __m512i pairs = _mm512_or_si512(_mm512_and_si512(x, _mm512_set1_epi32(0xF)),
                                        _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0xF0)), 12));
  return (__m512bh)_mm512_or_si512(pairs, _mm512_set1_epi32(0x43004300));
}

// scores[r][t] for keys [j, j + n) of a head (n <= 16) and the rows of `rows`.
TESSERA_TARGET_AVX512_BF16 void dot_codes4(const Head& h, int64_t j, int64_t n, int64_t D, int gs,
                                           const BfloatRows& rows, float* const* scores) {
  const int64_t chunks = D / 32, per_group = gs / 32, groups = D / gs;
  __m512bh keys[kKeyBlock][8];
  for (int64_t t = 0; t < kKeyBlock; ++t)
    for (int64_t c = 0; c < chunks; ++c)
      keys[t][c] = t < n ? codes_as_bf16(h.codes + (j + t) * h.row_bytes + 16 * c) : (__m512bh)_mm512_setzero_si512();
  for (int64_t g = 0; g < groups; ++g) {
    alignas(64) float sc[kKeyBlock] = {}, bi[kKeyBlock] = {};
    for (int64_t t = 0; t < n; ++t) {
      sc[t] = h.scales[(j + t) * groups + g];
      bi[t] = h.biases[(j + t) * groups + g] - kCodeOffset * sc[t];
    }
    const __m512 scale = _mm512_load_ps(sc), bias = _mm512_load_ps(bi);
    for (int64_t r = 0; r < rows.R; ++r) {
      __m512 a[kKeyBlock];
      for (int64_t t = 0; t < kKeyBlock; ++t) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c)
          acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_loadu_si512(rows.q[r] + 32 * c), keys[t][c]);
        a[t] = acc;
      }
      const __m512 term = _mm512_fmadd_ps(scale, sum_lanes(a), _mm512_mul_ps(bias, _mm512_set1_ps(rows.sums[r][g])));
      alignas(64) float out[kKeyBlock];
      _mm512_store_ps(out, g == 0 ? term : _mm512_add_ps(term, _mm512_loadu_ps(scores[r])));
      std::copy(out, out + n, scores[r]);
    }
  }
}

struct Kernel {
  const QuantizedAttentionParams& p;
  const float* q;
  const QuantizedRows &k, &v;
  float* out;
  bool simd;
  bool codes_path;  // 4-bit keys and bfloat16 q on AVX-512 BF16: dot_codes4

  // The scores of rows [r0, r1) from keys dequantized 16 at a time into `block` (16 rows and
  // their transpose).
  template <typename Query>
  void score_dequantized(const Head& kh, int64_t r0, int64_t r1, const Query& query, float* scores,
                         float* block) const {
    const int64_t R = r1 - r0, D = p.D, S = p.Tk;
    float* keys_t = block + kKeyBlock * D;
    // Many rows share a block: transposing it once spares each row the horizontal sums.
    const int64_t by_four = simd && p.Tq >= kPrefillQueries ? R / 4 * 4 : 0;
    for (int64_t j = 0; j < S; j += kKeyBlock) {
      const int64_t n = std::min(kKeyBlock, S - j);
      dequantize(kh, j, n, block);
      if (by_four > 0) {
        for (int64_t d = 0; d < D; ++d)
          for (int64_t t = 0; t < kKeyBlock; ++t) keys_t[d * kKeyBlock + t] = t < n ? block[t * D + d] : 0.0f;
      }
      for (int64_t r = r0; r < r0 + by_four; r += 4) {
        const float* const rows4[4] = {q + query(r), q + query(r + 1), q + query(r + 2), q + query(r + 3)};
        float* const out4[4] = {scores + (r - r0) * S + j, scores + (r + 1 - r0) * S + j,
                                scores + (r + 2 - r0) * S + j, scores + (r + 3 - r0) * S + j};
        dot_block_rows4(rows4, keys_t, n, D, out4);
      }
      for (int64_t r = r0 + by_four; r < r1; ++r) {
        float* row = scores + (r - r0) * S + j;
        if (simd) dot_block_avx512(q + query(r), block, n, D, row);
        else dot_block_scalar(q + query(r), block, n, D, row);
      }
    }
  }

  // The scores of rows [r0, r1) (fewer than 16) from the key codes, through dot_codes4.
  template <typename Query>
  void score_codes4(const Head& kh, int64_t r0, int64_t r1, const Query& query, float* scores) const {
    const int64_t R = r1 - r0, D = p.D, S = p.Tk, groups = D / p.group_size;
    uint16_t words[kKeyBlock][256];
    float sums[kKeyBlock][8];
    BfloatRows rows{};
    rows.R = R;
    for (int64_t r = 0; r < R; ++r) {
      const float* x = q + query(r0 + r);
      for (int64_t d = 0; d < D; ++d) {
        uint32_t u;
        std::memcpy(&u, x + d, sizeof u);
        words[r][d] = static_cast<uint16_t>(u >> 16);  // exact: x holds bfloat16 values
      }
      for (int64_t g = 0; g < groups; ++g) {
        float total = 0.0f;
        for (int64_t d = g * p.group_size; d < (g + 1) * p.group_size; ++d) total += x[d];
        sums[r][g] = total;
      }
      rows.q[r] = words[r];
      rows.sums[r] = sums[r];
    }
    float* out[kKeyBlock];
    for (int64_t j = 0; j < S; j += kKeyBlock) {
      for (int64_t r = 0; r < R; ++r) out[r] = scores + r * S + j;
      dot_codes4(kh, j, std::min(kKeyBlock, S - j), D, p.group_size, rows, out);
    }
  }

  void dequantize(const Head& h, int64_t j, int64_t n, float* block) const {
    if (simd) dequantize_rows_avx512(h, j, n, p.D, p.bits, p.group_size, block);
    else dequantize_rows_scalar(h, j, n, p.D, p.bits, p.group_size, block);
  }

  // Query rows [r0, r1) of key/value head hk of batch b; row r is query head hk * group + r / Tq
  // at position r % Tq.
  void rows(int64_t b, int64_t hk, int64_t r0, int64_t r1, std::vector<float>& scores, std::vector<float>& block) const {
    const int64_t group = p.Hq / p.Hkv, R = r1 - r0, D = p.D, S = p.Tk;
    const int64_t row_bytes = D * p.bits / 8, groups = D / p.group_size;
    const Head kh = head_of(k, b * p.Hkv + hk, row_bytes, groups), vh = head_of(v, b * p.Hkv + hk, row_bytes, groups);
    auto query = [&](int64_t r) {
      const int64_t h = hk * group + r / p.Tq, i = r % p.Tq;
      return ((b * p.Hq + h) * p.Tq + i) * D;
    };
    scores.resize(R * S);
    block.resize(2 * kKeyBlock * D);
    if (codes_path && p.Tq < kPrefillQueries) {
      for (int64_t c = r0; c < r1; c += kKeyBlock - 1)
        score_codes4(kh, c, std::min(r1, c + kKeyBlock - 1), query, scores.data() + (c - r0) * S);
    } else {
      score_dequantized(kh, r0, r1, query, scores.data(), block.data());
    }
    float norm[kRowBlock];
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % p.Tq;
      float* row = scores.data() + (r - r0) * S;
      simd::scale(row, p.scale, S);
      if (p.softcap) {
        const float cap = *p.softcap, inv_cap = 1.0f / *p.softcap;
        for (int64_t j = 0; j < S; ++j) row[j] = cap * std::tanh(row[j] * inv_cap);
      }
      if (p.mask) add_mask_row(bool_, p.mask, i * S, 1, S, row);
      const int64_t limit = p.causal ? std::clamp<int64_t>(i + S - p.Tq + 1, 0, S) : S;
      norm[r - r0] = softmax_scores(row, S, limit);
      std::fill_n(out + query(r), D, 0.0f);
    }
    for (int64_t j = 0; j < S; j += kKeyBlock) {
      const int64_t n = std::min(kKeyBlock, S - j);
      dequantize(vh, j, n, block.data());
      for (int64_t r = r0; r < r1; ++r) {
        const float* w = scores.data() + (r - r0) * S + j;
        if (simd) weigh_block_avx512(w, block.data(), n, D, out + query(r));
        else weigh_block_scalar(w, block.data(), n, D, out + query(r));
      }
    }
    for (int64_t r = r0; r < r1; ++r) {
      const float n = norm[r - r0];
      simd::scale(out + query(r), n > 0.0f ? 1.0f / n : 0.0f, D);
    }
  }
};

}  // namespace

void quantize_rows(const float* x, int64_t rows, int64_t D, int bits, int group_size, uint8_t* codes, float* scales,
                   float* biases) {
  const int levels = (1 << bits) - 1;
  const int64_t row_bytes = D * bits / 8, groups = D / group_size;
  parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      uint8_t* out = codes + r * row_bytes;
      std::fill_n(out, row_bytes, 0);
      for (int64_t g = 0; g < groups; ++g) {
        const float* v = x + r * D + g * group_size;
        const auto [lo, hi] = std::minmax_element(v, v + group_size);
        const float scale = (*hi - *lo) / static_cast<float>(levels);
        scales[r * groups + g] = scale;
        biases[r * groups + g] = *lo;
        for (int64_t i = 0; i < group_size; ++i) {
          const int q = scale > 0 ? std::clamp(static_cast<int>(std::lround((v[i] - *lo) / scale)), 0, levels) : 0;
          const int64_t d = g * group_size + i;
          if (bits == 8) out[d] = static_cast<uint8_t>(q);
          else out[d / 2] |= static_cast<uint8_t>(q << ((d % 2) * 4));
        }
      }
    }
  });
}

void dequantize_head(const QuantizedRows& rows, int64_t index, int64_t n, int64_t D, int bits, int group_size,
                     float* out) {
  const Head h = head_of(rows, index, D * bits / 8, D / group_size);
  if (cpu_has_avx512() && D % 32 == 0 && group_size % 16 == 0) dequantize_rows_avx512(h, 0, n, D, bits, group_size, out);
  else dequantize_rows_scalar(h, 0, n, D, bits, group_size, out);
}

void quantized_attention(const QuantizedAttentionParams& p, const float* q, const QuantizedRows& k,
                         const QuantizedRows& v, float* out) {
  if (p.B * p.Hq * p.Tq * p.D == 0) return;
  if (quantized_attention_bf16(p, q, k, v, out)) return;
  const bool simd = cpu_has_avx512() && p.D % 32 == 0 && p.group_size % 16 == 0;
  const bool codes = simd && p.bits == 4 && p.q_bfloat16 && p.group_size % 32 == 0 && p.D <= 256 &&
                     cpu_has_avx512_bf16();
  const Kernel kernel{p, q, k, v, out, simd, codes};
  const int64_t R = p.Hq / p.Hkv * p.Tq, blocks = (R + kRowBlock - 1) / kRowBlock;
  const int64_t work = std::min(R, kRowBlock) * p.Tk * p.D * 2;
  parallel_chunks(p.B * p.Hkv * blocks, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, work)),
                  [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores, block;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bh = item / blocks, r0 = item % blocks * kRowBlock;
      kernel.rows(bh / p.Hkv, bh % p.Hkv, r0, std::min(R, r0 + kRowBlock), scores, block);
    }
  });
}

}  // namespace tessera::cpu
