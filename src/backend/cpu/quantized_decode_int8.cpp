// The decode layout's kernel for x rounded to one int8 term per element, on a scale per group
// (llama.cpp rounds its activations the same way: Q8_0 per 32 elements, Q8_K per 256). vpdpbusd
// multiplies 64 weight codes with 64 terms per instruction at two per cycle where vdpbf16ps
// takes 32 (bench/dot_peak_bench), and since one scale of x covers a whole group, each lane sums
// its group of a step in int32 before one float conversion per step. The price is the rounding
// of x: an rms error of ~1.5 % of a 4-bit product (0.006 % in the other forms), which is why the
// form is taken only when asked for (quantized_matmul's int8_activations).
//
// 8 rows of x over the 113 matrices of a 1B 4-bit model, from DRAM: 33.0-33.9 ms in the bf16
// form, 25.4 ms with a scale of x per block of 32 (float work per block), 17.6-19.6 ms here.
#include "backend/cpu/quantized_decode_layout.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cstring>

#include "backend/cpu/thread_pool.h"

namespace tessera::cpu::qdecode::detail {

namespace {

// Bytes of x's terms per chunk: at 4 bits a vector for the elements of the low nibbles and one for
// the high nibbles' (byte k of a lane multiplies element 2k or 2k + 1 of the lane's dword), at 8
// bits one vector.
template <int BITS>
constexpr int64_t kChunkBytes = BITS == 4 ? 128 : 64;

// Rows of x prepared: per row, step and chunk the terms (lane l holding group l's elements of
// that chunk); per row and group the scale dx (x = dx * term) and the float sum of x.
struct PreparedX {
  int64_t term_stride, group_stride;  // per row of x
  const int8_t* terms;
  const float* dx;
  const float* sums;
};

// 16 floats t (already x / dx) rounded to int8, as four dwords.
TESSERA_DECODE_TARGET inline void round_terms(__m512 t, uint32_t (&dwords)[4]) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dwords), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(t)));
}

// 16 elements of x from float32 or from bfloat16 (exactly the floats a conversion would give).
TESSERA_DECODE_TARGET inline __m512 load16(const float* x) { return _mm512_loadu_ps(x); }
TESSERA_DECODE_TARGET inline __m512 load16(const uint16_t* x) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// The terms of one group g of a row: 32 elements at a time, each 32 spanning four chunks (4 bits)
// or eight (8 bits).
template <int BITS, class In>
TESSERA_DECODE_TARGET void prepare_group(const In* x, int64_t gs, int64_t chunks, int64_t g, int8_t* terms,
                                         float* dx, float* sums) {
  constexpr int64_t X = kChunkBytes<BITS>;
  const int64_t s = g / kStepGroups, lane = g % kStepGroups;
  const In* xg = x + g * gs;
  __m512 amax = _mm512_setzero_ps(), sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < gs; i += 16) {
    const __m512 v = load16(xg + i);
    amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
    sum = _mm512_add_ps(sum, v);
  }
  const float max = _mm512_reduce_max_ps(amax);
  dx[g] = max / 127.0f;
  sums[g] = _mm512_reduce_add_ps(sum);
  const __m512 inv = _mm512_set1_ps(max > 0.0f ? 127.0f / max : 0.0f);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t b = 0; b < gs; b += 32) {
    const __m512 t0 = _mm512_mul_ps(load16(xg + b), inv);
    const __m512 t1 = _mm512_mul_ps(load16(xg + b + 16), inv);
    int8_t* chunk0 = terms + (s * chunks + b * BITS / 32) * X + 4 * lane;
    uint32_t dwords[2][4];
    if constexpr (BITS == 4) {
      round_terms(_mm512_permutex2var_ps(t0, even, t1), dwords[0]);
      round_terms(_mm512_permutex2var_ps(t0, odd, t1), dwords[1]);
      for (int i = 0; i < 4; ++i)
        for (int h = 0; h < 2; ++h) std::memcpy(chunk0 + i * X + h * 64, &dwords[h][i], 4);
    } else {
      round_terms(t0, dwords[0]);
      round_terms(t1, dwords[1]);
      for (int i = 0; i < 8; ++i) std::memcpy(chunk0 + i * X, &dwords[i / 4][i % 4], 4);
    }
  }
}

// Elements of x per thread below which preparing them is not split.
constexpr int64_t kPrepareGrain = 4096;

template <int BITS, class In>
PreparedX prepare_x(const In* x, int64_t M, const QuantizedMatrix& w, const Geometry& geo) {
  const int64_t K = w.cols;
  auto* terms = static_cast<int8_t*>(scratch(M * (K + 2 * geo.groups * sizeof(float))));
  auto* dx = reinterpret_cast<float*>(terms + M * K);
  float* sums = dx + M * geo.groups;
  // Rows on both threads where there are several: 8 rows of 2048 took 3.9 us alone, 2.6 split,
  // a hundred times per step of a batch.
  parallel_for(M, std::max<int64_t>(1, kPrepareGrain / K), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t g = 0; g < geo.groups; ++g)
        prepare_group<BITS, In>(x + m * K, w.group_size, geo.chunks, g, terms + m * K, dx + m * geo.groups,
                                sums + m * geo.groups);
  });
  return PreparedX{K, geo.groups, terms, dx, sums};
}

// Independent int32 sums per (weight row, x row) pair, so that the dot products do not wait on
// each other: with few rows also the nibbles apart and even and odd chunks apart. int32 sums are
// exact, so the split changes no result; at 8 rows one sum per pair keeps them in registers.
template <int MR>
constexpr int kChains = MR >= 8 ? 1 : MR >= 3 ? 2 : 4;

using Rows = PassRows<PreparedX>;

// Prefetch distances in bytes (l2 = 0: none).
struct Ahead {
  int64_t l1, l2;
};

// The int32 sums of step s (its chunks from c) for both weight rows of the tile and rows
// [m0, m0 + MR) of x, prefetching into L1 `ahead.l1` bytes ahead and, where given, into L2
// `ahead.l2` bytes ahead.
template <int BITS, int MR>
TESSERA_DECODE_TARGET inline void step_dots(const std::byte* c, const Geometry& geo, int64_t s, const Rows& rows,
                                            Ahead ahead, __m512i (&sums)[kTileRows][MR]) {
  constexpr int C = kChains<MR>;
  constexpr int64_t X = kChunkBytes<BITS>;
  const PreparedX& x = *rows.x;
  const int8_t* xs[MR];
  for (int m = 0; m < MR; ++m) xs[m] = x.terms + (rows.m0 + m) * x.term_stride + s * geo.chunks * X;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512i a[kTileRows][MR][C];
  for (auto& row : a)
    for (auto& pair : row)
      for (auto& v : pair) v = _mm512_setzero_si512();
#pragma GCC unroll 2
  for (int64_t j = 0; j < geo.chunks; ++j, c += kTileRows * 64) {
    for (int64_t r = 0; r < kTileRows; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * 64 + ahead.l1), _MM_HINT_T0);
      if (ahead.l2) _mm_prefetch(reinterpret_cast<const char*>(c + r * 64 + ahead.l2), _MM_HINT_T1);
    }
    __m512i lo[kTileRows], hi[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      const __m512i v = _mm512_load_si512(c + r * 64);
      lo[r] = BITS == 4 ? _mm512_and_si512(v, nibble) : v;
      if constexpr (BITS == 4) hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
    }
    // Chain of the low nibbles' (or this chunk's) products, and of the high nibbles'.
    const int c_lo = C == 4 ? 2 * (j % 2) : 0, c_hi = C == 1 ? 0 : c_lo + 1;
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const int8_t* t = xs[m] + j * X;
      const __m512i x_lo = _mm512_load_si512(t);
      for (int r = 0; r < kTileRows; ++r) {
        if constexpr (BITS == 4) {
          a[r][m][c_lo] = _mm512_dpbusd_epi32(a[r][m][c_lo], lo[r], x_lo);
          a[r][m][c_hi] = _mm512_dpbusd_epi32(a[r][m][c_hi], hi[r], _mm512_load_si512(t + 64));
        } else {
          const int k = C == 1 ? 0 : j % C;
          a[r][m][k] = _mm512_dpbusd_epi32(a[r][m][k], lo[r], x_lo);
        }
      }
    }
  }
  for (int r = 0; r < kTileRows; ++r)
    for (int m = 0; m < MR; ++m) {
      __m512i total = a[r][m][0];
      for (int k = 1; k < C; ++k) total = _mm512_add_epi32(total, a[r][m][k]);
      sums[r][m] = total;
    }
}

// acc += step s of the tile (p at the step) for MR rows of x: per pair the int32 sums times
// scale * dx plus bias * sum x. Every pair takes the same float operations in the same order
// whatever MR, so a row of a batch gets exactly the product of that row alone.
template <int BITS, int MR>
TESSERA_DECODE_TARGET inline void add_step(const std::byte* p, int64_t s, const Geometry& geo, ScaleType st,
                                           const Rows& rows, Ahead ahead, __m512 (*acc)[kTileRows]) {
  const PreparedX& x = *rows.x;
  for (int64_t o = 0; o < kTileRows * geo.param_bytes; o += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + o + ahead.l1), _MM_HINT_T0);
  __m512i sums[kTileRows][MR];
  step_dots<BITS, MR>(p + kTileRows * geo.param_bytes, geo, s, rows, ahead, sums);
  const int64_t params = scale_size(st) * kStepGroups;
  for (int r = 0; r < kTileRows; ++r) {
    const std::byte* pr = p + r * geo.param_bytes;
    const __m512 S = load_params(pr, st), B = load_params(pr + params, st);
    for (int m = 0; m < MR; ++m) {
      const int64_t at = (rows.m0 + m) * x.group_stride + s * kStepGroups;
      const __m512 scale = _mm512_mul_ps(S, _mm512_loadu_ps(x.dx + at));
      acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r][m]), scale,
                                  _mm512_fmadd_ps(B, _mm512_loadu_ps(x.sums + at), acc[m][r]));
    }
  }
}

template <int MR>
TESSERA_DECODE_TARGET void store_tile(const __m512 (&acc)[MR][kTileRows], int64_t n, const Rows& rows) {
  for (int m = 0; m < MR; ++m)
    for (int r = 0; r < kTileRows; ++r) rows.y[(rows.m0 + m) * rows.N + n + r] = _mm512_reduce_add_ps(acc[m][r]);
}

// One tile (weight rows n, n + 1), step after step: one sequential stream.
template <int BITS, int MR>
TESSERA_DECODE_TARGET void tile(const Geometry& geo, ScaleType st, const std::byte* p, int64_t n, const Rows& rows) {
  __m512 acc[MR][kTileRows];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  for (int64_t s = 0; s < geo.steps; ++s, p += geo.step_bytes)
    add_step<BITS, MR>(p, s, geo, st, rows, Ahead{kPrefetchBytes, 0}, acc);
  store_tile<MR>(acc, n, rows);
}

// Where the terms of x outgrow L1 (8 rows of 8,192: 64 KiB), tiles go through their steps
// together (stream_tiles), so that the rows' terms of a step (1 KiB each at group size 64) stay in
// L1; each tile's stream prefetches its next step into L1 and the same step of the next block's
// tile into L2, since one step ahead of four interleaved streams is too short a lead for DRAM.
// 8 rows, 2048 x 8192 from DRAM: 211 GMAC/s tile after tile, 390-420 blocked, 460-560 with the
// L2 prefetch.
template <int BITS, int MR>
TESSERA_DECODE_TARGET void tile_block(const Geometry& geo, ScaleType st, const std::byte* layout, int64_t t0,
                                      int64_t count, const Rows& rows) {
  __m512 acc[kBlockTiles][MR][kTileRows];
  for (auto& t : acc)
    for (auto& row : t)
      for (auto& v : row) v = _mm512_setzero_ps();
  for (int64_t s = 0; s < geo.steps; ++s)
    for (int64_t t = 0; t < count; ++t)
      add_step<BITS, MR>(layout + (t0 + t) * geo.tile_bytes + s * geo.step_bytes, s, geo, st, rows,
                         Ahead{geo.step_bytes, kBlockTiles * geo.tile_bytes}, acc[t]);
  for (int64_t t = 0; t < count; ++t) store_tile<MR>(acc[t], (t0 + t) * kTileRows, rows);
}

template <int BITS, class In>
void run(const In* x, int64_t M, const Target* targets, int64_t count) {
  const QuantizedMatrix& w = *targets[0].w;
  const Geometry geo(w);
  const PreparedX px = prepare_x<BITS, In>(x, M, w, geo);
  for_each_pass(M, [&](auto rows, int64_t m0) {
    constexpr int MR = decltype(rows)::value;
    auto pass = [&](int64_t i) { return Rows(&px, m0, targets[i]); };
    stream_tiles(
        geo, targets, count, MR * w.cols > kL1Bytes,
        [&](int64_t i, int64_t t) {
          tile<BITS, MR>(geo, w.scale_type, targets[i].layout + t * geo.tile_bytes, t * kTileRows, pass(i));
        },
        [&](int64_t i, int64_t t, int64_t n) { tile_block<BITS, MR>(geo, w.scale_type, targets[i].layout, t, n, pass(i)); },
        [&](int64_t i, int64_t t0, int64_t t1) { finish_tiles(pass(i), MR, t0, t1); });
  });
}

}  // namespace

void gemv_int8(Input x, int64_t M, const Target* targets, int64_t count) {
  const int bits = targets[0].w->bits;
  if (x.bf16) {
    if (bits == 4) return run<4>(x.bf16, M, targets, count);
    return run<8>(x.bf16, M, targets, count);
  }
  if (bits == 4) return run<4>(x.f32, M, targets, count);
  run<8>(x.f32, M, targets, count);
}

}  // namespace tessera::cpu::qdecode::detail
