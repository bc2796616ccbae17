// Attention with bfloat16 q, k and v. Decoding reads the whole cache per token, and the generic
// kernel spent five times that reading: per query head every key row was widened to float32 and
// dotted with its own horizontal sum. Here the query heads that share a key/value head go
// together with a block of their query positions, so each key and value row is read once for all
// of them; vdpbf16ps dots bfloat16 queries with bfloat16 keys, the sums of 16 keys reduced into one
// vector at once (sum_lanes.h), or, for prefill (kPrefillQueries positions or more), against keys
// transposed once per block so that no sums are needed. Values are weighted in float32 with the
// probabilities in float32 below kPrefillQueries positions (decoding, speculative verification,
// whose rows keep the arithmetic of a single query), and in bfloat16 for prefill, two keys per
// vdpbf16ps. Prefill takes the same path in blocks of query positions: the float32 GEMM
// path it replaces first widened and transposed every cached key and value, 11 ms per layer of a
// 1B model at a 4096-token cache whatever the number of queries.
#include "backend/cpu/attention_bf16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/attention_rows.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/simd_rows.h"
#include "backend/cpu/sum_lanes.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kKeyBlock = 16;
constexpr int64_t kMaxQueries = 16;  // rows per dot_keys call
// Query rows per item (query heads of a group times positions), and the most bytes their scores
// may take.
constexpr int64_t kMaxRows = 256;
constexpr int64_t kScoreBytes = 4 << 20;

// Rows of keys or values ahead of the ones read: each head's cache is one stream.
constexpr int64_t kAheadRows = 64;

// Prefetches `rows` rows of `bytes` bytes, ld elements apart, from p.
inline void prefetch_rows(const uint16_t* p, int64_t ld, int64_t rows, int64_t bytes) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + r * ld) + o, _MM_HINT_T0);
}

// out[t] = q · keys[t] for 16 key rows ld elements apart; q is C vectors of 32 bfloat16.
template <int C>
TESSERA_TARGET_AVX512_BF16 inline void dot_key_block(const uint16_t* q, const uint16_t* keys, int64_t ld,
                                                     float* out) {
  __m512bh qv[C];
  for (int c = 0; c < C; ++c) qv[c] = (__m512bh)_mm512_loadu_si512(q + 32 * c);
  __m512 a[kKeyBlock];
  for (int t = 0; t < kKeyBlock; ++t) {
    __m512 s = _mm512_setzero_ps();
    for (int c = 0; c < C; ++c) s = _mm512_dpbf16_ps(s, qv[c], (__m512bh)_mm512_loadu_si512(keys + t * ld + 32 * c));
    a[t] = s;
  }
  _mm512_storeu_ps(out, sum_lanes(a));
}

// scores[r][j] = q[r] · keys[j] for rows r < R and keys j < n.
template <int C>
TESSERA_TARGET_AVX512_BF16 void dot_keys(const uint16_t* const* q, int64_t R, const uint16_t* keys, int64_t ld,
                                         int64_t n, float* scores, int64_t score_stride) {
  int64_t j = 0;
  for (; j + kKeyBlock <= n; j += kKeyBlock) {
    prefetch_rows(keys + (j + kAheadRows) * ld, ld, std::clamp<int64_t>(n - j - kAheadRows, 0, kKeyBlock), 64 * C);
    for (int64_t r = 0; r < R; ++r) dot_key_block<C>(q[r], keys + j * ld, ld, scores + r * score_stride + j);
  }
  if (j == n) return;
  // The last keys, copied into a block of zeros.
  alignas(64) uint16_t tail[kKeyBlock * 32 * C] = {};
  for (int64_t t = 0; t < n - j; ++t) std::memcpy(tail + t * 32 * C, keys + (j + t) * ld, 64 * C);
  alignas(64) float sums[kKeyBlock];
  for (int64_t r = 0; r < R; ++r) {
    dot_key_block<C>(q[r], tail, 32 * C, sums);
    std::copy(sums, sums + (n - j), scores + r * score_stride + j);
  }
}

// acc[r] = sum over j < n of p[r][j] * values[j] for QB rows, values V16 vectors of 16 bfloat16.
template <int V16, int QB>
TESSERA_TARGET_AVX512 void weigh_values(const float* const* p, const uint16_t* values, int64_t ld, int64_t n,
                                        float* const* acc) {
  __m512 sum[QB][V16];
  for (auto& row : sum)
    for (auto& s : row) s = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    prefetch_rows(values + (j + kAheadRows) * ld, ld, 1, 32 * V16);
    __m512 v[V16];
    for (int c = 0; c < V16; ++c) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + j * ld + 16 * c));
      v[c] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    for (int r = 0; r < QB; ++r) {
      const __m512 w = _mm512_set1_ps(p[r][j]);
      for (int c = 0; c < V16; ++c) sum[r][c] = _mm512_fmadd_ps(w, v[c], sum[r][c]);
    }
  }
  for (int r = 0; r < QB; ++r)
    for (int c = 0; c < V16; ++c) _mm512_storeu_ps(acc[r] + 16 * c, sum[r][c]);
}

template <int V16>
void weigh_all(const float* const* p, int64_t R, const uint16_t* values, int64_t ld, int64_t n, float* const* acc) {
  constexpr int QB = 16 / V16;
  int64_t r = 0;
  for (; r + QB <= R; r += QB) weigh_values<V16, QB>(p + r, values, ld, n, acc + r);
  for (; r < R; ++r) weigh_values<V16, 1>(p + r, values, ld, n, acc + r);
}

// Prefill weighs the values with the probabilities rounded to bfloat16: vdpbf16ps
// takes two keys per instruction where float32 FMAs took one (512 queries on a 4096-token cache,
// bench/attention_bench: 44 -> 39 ms per layer; the value products had been the largest part of
// attention, and now run near vdpbf16ps's peak, as the scores do). Each row's
// probabilities are stored as bfloat16 pairs (p[j], p[j + 1]), a zero after an odd last key;
// two keys' values are interleaved per column by vpunpck{l,h}wd, which puts columns 8L + 0..3 of
// every 128-bit lane L of a 32-column chunk in one sum and 8L + 4..7 in the other.
TESSERA_TARGET_AVX512_BF16 void probability_pairs(const float* p, int64_t n, uint16_t* pairs) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32)
    _mm512_storeu_si512(pairs + j, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + j + 16), _mm512_loadu_ps(p + j)));
  if (j == n) return;
  // The rest, zeros past n, up to an even count.
  const int64_t rest = n - j, even = rest + rest % 2;
  const __mmask16 low = _cvtu32_mask16((1u << std::min<int64_t>(rest, 16)) - 1);
  const __mmask16 high = _cvtu32_mask16(rest > 16 ? (1u << (rest - 16)) - 1 : 0u);
  const __m512bh words =
      _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(high, p + j + 16), _mm512_maskz_loadu_ps(low, p + j));
  _mm512_mask_storeu_epi16(pairs + j, _cvtu32_mask32(static_cast<uint32_t>((uint64_t{1} << even) - 1)), (__m512i)words);
}

// The chunk's 32 columns in order from its two interleaved sums.
struct ChunkOrder {
  alignas(64) int32_t first[16], second[16];
  constexpr ChunkOrder() : first{}, second{} {
    for (int i = 0; i < 16; ++i) {
      // Output column i of a 16-column half: lane i / 4 % 2 of the pair (lo, hi), dword i % 4.
      const int lane = i / 8, from_hi = i / 4 % 2, dword = i % 4;
      first[i] = 16 * from_hi + 4 * lane + dword;
      second[i] = 16 * from_hi + 4 * (lane + 2) + dword;
    }
  }
};
constexpr ChunkOrder kChunkOrder{};

// acc[r] = sum over j < n of pairs[r][j] * values[j] for QB rows, values V16 vectors of 16
// bfloat16 (V16 even).
template <int V16, int QB>
TESSERA_TARGET_AVX512_BF16 void weigh_values_bf16(const uint16_t* const* pairs, const uint16_t* values, int64_t ld,
                                                  int64_t n, float* const* acc) {
  __m512 sum[QB][V16];
  for (auto& row : sum)
    for (auto& s : row) s = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 2) {
    prefetch_rows(values + (j + kAheadRows) * ld, ld, 2, 32 * V16);
    const uint16_t* first = values + j * ld;
    __m512bh v[V16];
    for (int c = 0; c < V16; c += 2) {
      const __m512i a = _mm512_loadu_si512(first + 16 * c);
      const __m512i b = j + 1 < n ? _mm512_loadu_si512(first + ld + 16 * c) : _mm512_setzero_si512();
      v[c] = (__m512bh)_mm512_unpacklo_epi16(a, b);
      v[c + 1] = (__m512bh)_mm512_unpackhi_epi16(a, b);
    }
    for (int r = 0; r < QB; ++r) {
      int32_t pair;
      std::memcpy(&pair, pairs[r] + j, sizeof pair);
      const auto w = (__m512bh)_mm512_set1_epi32(pair);
      for (int c = 0; c < V16; ++c) sum[r][c] = _mm512_dpbf16_ps(sum[r][c], v[c], w);
    }
  }
  const __m512i first = _mm512_load_si512(kChunkOrder.first), second = _mm512_load_si512(kChunkOrder.second);
  for (int r = 0; r < QB; ++r)
    for (int c = 0; c < V16; c += 2) {
      _mm512_storeu_ps(acc[r] + 16 * c, _mm512_permutex2var_ps(sum[r][c], first, sum[r][c + 1]));
      _mm512_storeu_ps(acc[r] + 16 * c + 16, _mm512_permutex2var_ps(sum[r][c], second, sum[r][c + 1]));
    }
}

template <int V16>
void weigh_all_bf16(const uint16_t* const* pairs, int64_t R, const uint16_t* values, int64_t ld, int64_t n,
                    float* const* acc) {
  constexpr int QB = 16 / V16;
  int64_t r = 0;
  for (; r + QB <= R; r += QB) weigh_values_bf16<V16, QB>(pairs + r, values, ld, n, acc + r);
  for (; r < R; ++r) weigh_values_bf16<V16, 1>(pairs + r, values, ld, n, acc + r);
}

struct Problem {
  const AttentionParams& p;
  const AttentionOperand &q, &k, &v, &mask;
  bfloat16_t* out;
};

// Keys [0, n) of a block of 16 (n <= 16) transposed into dword pairs: kt[d2 * 16 + t] holds
// elements 2 d2 and 2 d2 + 1 of key t (zero for t >= n).
void transpose_keys(const uint16_t* keys, int64_t ld, int64_t n, int64_t D, uint32_t* kt) {
  for (int64_t t = 0; t < kKeyBlock; ++t)
    for (int64_t d2 = 0; d2 < D / 2; ++d2) {
      uint32_t pair = 0;
      if (t < n) std::memcpy(&pair, keys + t * ld + 2 * d2, sizeof pair);
      kt[d2 * kKeyBlock + t] = pair;
    }
}

// scores[r][t] = q[r] · key t for 8 rows and a transposed block of n keys: each pair of q
// broadcast against 16 keys' pairs, no horizontal sums; two chains per row.
template <int C>
TESSERA_TARGET_AVX512_BF16 void dot_rows8(const uint16_t* const* q, const uint32_t* kt, int64_t n, float* scores,
                                          int64_t score_stride) {
  __m512 acc[8][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int d2 = 0; d2 < 16 * C; d2 += 2) {
    const auto k0 = (__m512bh)_mm512_loadu_si512(kt + d2 * kKeyBlock);
    const auto k1 = (__m512bh)_mm512_loadu_si512(kt + (d2 + 1) * kKeyBlock);
    for (int r = 0; r < 8; ++r) {
      uint32_t p0, p1;
      std::memcpy(&p0, q[r] + 2 * d2, sizeof p0);
      std::memcpy(&p1, q[r] + 2 * d2 + 2, sizeof p1);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)_mm512_set1_epi32(static_cast<int>(p0)), k0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)_mm512_set1_epi32(static_cast<int>(p1)), k1);
    }
  }
  const auto keep = static_cast<__mmask16>((1u << n) - 1);
  for (int r = 0; r < 8; ++r) _mm512_mask_storeu_ps(scores + r * score_stride, keep, _mm512_add_ps(acc[r][0], acc[r][1]));
}

// dot_keys for many rows (prefill): each block of 16 keys is transposed once and read by the rows
// eight at a time; the rows past a multiple of 8 take dot_keys. 512 queries on a 4096-token
// cache (bench/attention_bench): 65 -> 46 ms per layer.
template <int C>
void dot_keys_many(const uint16_t* const* q, int64_t R, const uint16_t* keys, int64_t ld, int64_t n, float* scores,
                   int64_t score_stride) {
  alignas(64) uint32_t kt[16 * C * kKeyBlock];
  const int64_t by_eight = R / 8 * 8;
  for (int64_t j = 0; j < n; j += kKeyBlock) {
    const int64_t count = std::min(kKeyBlock, n - j);
    prefetch_rows(keys + (j + kAheadRows) * ld, ld, kKeyBlock, 64 * C);
    transpose_keys(keys + j * ld, ld, count, 32 * C, kt);
    for (int64_t r = 0; r < by_eight; r += 8) dot_rows8<C>(q + r, kt, count, scores + r * score_stride + j, score_stride);
  }
  for (int64_t r0 = by_eight; r0 < R; r0 += kMaxQueries)
    dot_keys<C>(q + r0, std::min(kMaxQueries, R - r0), keys, ld, n, scores + r0 * score_stride, score_stride);
}

// Query positions per item: as many as kMaxRows rows and kScoreBytes of scores allow.
int64_t block_positions(const AttentionParams& p) {
  const int64_t group = p.Hq / p.Hkv;
  const int64_t by_rows = kMaxRows / group, by_bytes = kScoreBytes / (4 * group * p.Tk);
  return std::max<int64_t>(1, std::min({p.Tq, by_rows, by_bytes}));
}

// Weighs the values with the rows' probabilities: in float32 (prob), or in bfloat16 from their
// pairs where given.
void weigh(const float* const* prob, const uint16_t* const* pairs, int64_t R, const uint16_t* values, int64_t ld,
           int64_t n, int64_t Dv, float* const* sums) {
  if (pairs) {
    switch (Dv) {
      case 64: return weigh_all_bf16<4>(pairs, R, values, ld, n, sums);
      case 128: return weigh_all_bf16<8>(pairs, R, values, ld, n, sums);
      default: return weigh_all_bf16<16>(pairs, R, values, ld, n, sums);
    }
  }
  switch (Dv) {
    case 64: return weigh_all<4>(prob, R, values, ld, n, sums);
    case 128: return weigh_all<8>(prob, R, values, ld, n, sums);
    default: return weigh_all<16>(prob, R, values, ld, n, sums);
  }
}

// Query positions [i0, i1) of every query head of key/value head hk of batch b: row r is head
// hk * group + r / (i1 - i0) at position i0 + r % (i1 - i0). Keys no row sees (causal) are skipped.
template <int C>
void attend_block(const Problem& pr, int64_t b, int64_t hk, int64_t i0, int64_t i1, std::vector<float>& scores,
                  std::vector<float>& acc, std::vector<uint16_t>& pairs) {
  const AttentionParams& p = pr.p;
  const int64_t group = p.Hq / p.Hkv, T = i1 - i0, R = group * T;
  const int64_t n_keys = p.causal ? std::clamp<int64_t>(i1 + p.Tk - p.Tq, 0, p.Tk) : p.Tk;
  const auto* keys = static_cast<const uint16_t*>(pr.k.data) + b * pr.k.strides[0] + hk * pr.k.strides[1];
  const auto* values = static_cast<const uint16_t*>(pr.v.data) + b * pr.v.strides[0] + hk * pr.v.strides[1];
  const uint16_t* q[kMaxRows] = {};
  const float* prob[kMaxRows] = {};
  float* sums[kMaxRows] = {};
  int64_t head[kMaxRows], position[kMaxRows];
  // Prefill takes the many-row kernels: keys transposed per block and the values weighed in
  // bfloat16, each row's pairs made while its probabilities are in L1 (the block's scores, up to
  // kScoreBytes, are not). Fewer query positions keep each row's single-query arithmetic.
  const bool prefill = p.Tq >= kPrefillQueries;
  const int64_t pair_stride = n_keys + 2;  // even, with room for the pad
  const uint16_t* pair_rows[kMaxRows] = {};
  scores.resize(R * n_keys);
  acc.resize(R * p.Dv);
  if (prefill) pairs.resize(R * pair_stride);
  for (int64_t r = 0; r < R; ++r) {
    head[r] = hk * group + r / T, position[r] = i0 + r % T;
    q[r] = static_cast<const uint16_t*>(pr.q.data) + b * pr.q.strides[0] + head[r] * pr.q.strides[1] +
           position[r] * pr.q.strides[2];
    prob[r] = scores.data() + r * n_keys;
    sums[r] = acc.data() + r * p.Dv;
  }
  if (prefill) {
    dot_keys_many<C>(q, R, keys, pr.k.strides[2], n_keys, scores.data(), n_keys);
  } else {
    // A short cache's values are requested while the scores are computed: they are read once,
    // in an order (head after head) the hardware prefetchers do not follow.
    prefetch_rows(values, pr.v.strides[2], std::min<int64_t>(n_keys, kAheadRows), 2 * p.Dv);
    for (int64_t r0 = 0; r0 < R; r0 += kMaxQueries)
      dot_keys<C>(q + r0, std::min(kMaxQueries, R - r0), keys, pr.k.strides[2], n_keys, scores.data() + r0 * n_keys,
                  n_keys);
  }
  float norm[kMaxRows];
  for (int64_t r = 0; r < R; ++r) {
    const int64_t h = head[r], i = position[r];
    float* row = scores.data() + r * n_keys;
    simd::scale(row, p.scale, n_keys);
    if (p.softcap) {
      const float cap = *p.softcap, inv_cap = 1.0f / *p.softcap;
      for (int64_t j = 0; j < n_keys; ++j) row[j] = cap * std::tanh(row[j] * inv_cap);
    }
    if (p.mask_dtype) {
      add_mask_row(*p.mask_dtype, pr.mask.data, b * pr.mask.strides[0] + h * pr.mask.strides[1] + i * pr.mask.strides[2],
                   pr.mask.strides[3], n_keys, row);
    }
    const int64_t limit = p.causal ? std::clamp<int64_t>(i + p.Tk - p.Tq + 1, 0, n_keys) : n_keys;
    norm[r] = softmax_scores(row, n_keys, limit);
    if (prefill) {
      pair_rows[r] = pairs.data() + r * pair_stride;
      probability_pairs(row, n_keys, pairs.data() + r * pair_stride);
    }
  }
  weigh(prob, prefill ? pair_rows : nullptr, R, values, pr.v.strides[2], n_keys, p.Dv, sums);
  for (int64_t r = 0; r < R; ++r) {
    simd::scale(sums[r], norm[r] > 0.0f ? 1.0f / norm[r] : 0.0f, p.Dv);
    store_row(sums[r], pr.out + ((b * p.Hq + head[r]) * p.Tq + position[r]) * p.Dv, p.Dv);
  }
}

template <int C>
void attend(const Problem& pr) {
  const AttentionParams& p = pr.p;
  const int64_t T = block_positions(p), blocks = (p.Tq + T - 1) / T;
  const int64_t work = p.Hq / p.Hkv * T * p.Tk * (p.D + p.Dv);
  parallel_chunks(p.B * p.Hkv * blocks, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, work)),
                  [&](int64_t begin, int64_t end) {
    // Per thread, kept between calls: decoding attends a hundred times per token.
    thread_local std::vector<float> scores, acc;
    thread_local std::vector<uint16_t> pairs;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bh = item / blocks, i0 = item % blocks * T;
      if (item + 1 < end && blocks == 1) {
        const int64_t nb = (bh + 1) / p.Hkv, nh = (bh + 1) % p.Hkv;
        prefetch_rows(static_cast<const uint16_t*>(pr.k.data) + nb * pr.k.strides[0] + nh * pr.k.strides[1],
                      pr.k.strides[2], std::min<int64_t>(p.Tk, kAheadRows), 2 * p.D);
      }
      attend_block<C>(pr, bh / p.Hkv, bh % p.Hkv, i0, std::min(p.Tq, i0 + T), scores, acc, pairs);
    }
  });
}

}  // namespace

bool attention_bf16(const AttentionParams& p, const AttentionOperand& q, const AttentionOperand& k,
                    const AttentionOperand& v, const AttentionOperand& mask, void* out) {
  const bool fits = p.dtype == bfloat16 && p.Hq / p.Hkv <= kMaxRows && (p.D == 64 || p.D == 128 || p.D == 256) &&
                    (p.Dv == 64 || p.Dv == 128 || p.Dv == 256) && p.Tk > 0 && cpu_has_avx512_bf16();
  if (!fits) return false;
  const Problem pr{p, q, k, v, mask, static_cast<bfloat16_t*>(out)};
  switch (p.D) {
    case 64: attend<2>(pr); break;
    case 128: attend<4>(pr); break;
    default: attend<8>(pr); break;
  }
  return true;
}

}  // namespace tessera::cpu
