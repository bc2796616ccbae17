// The decode layout's 4-bit kernel for bfloat16 x: weights unpacked into the bfloat16 values
// 128 + q (the nibble under a fixed exponent, one bitwise operation) and multiplied with x
// exactly by vdpbf16ps; the 128 is folded into the bias term. x needs no rounding, and since
// lane l of every load holds group l, each lane sums a whole step's group before one scale and
// bias FMA: per 128 weights and row of x four dot products. The two-term form
// (quantized_decode.cpp) needs eight there, two int8 terms for each weight. The 113 matrices of one token of a 1B 4-bit
// model at 8 rows of x, from DRAM: 208 t/s in MLX's layout in the same form (what batches took
// before), 220 here, 233 with tile blocks (below).
//
// The form is taken for any number of rows of bfloat16 x, one included, so that a row of a
// batch and the same row alone get the same bits.
#include "backend/cpu/quantized_decode_layout.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "backend/cpu/quantized_int8_layout.h"

#define TESSERA_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))

namespace tessera::cpu::qdecode::detail {

namespace {

// What 128 + q adds to each product, taken off the bias: scale * (128 + q) + (bias - 128 scale),
// as in the bf16 form of MLX's layout.
constexpr float kOffset = qint8::detail::kBf16Offset;

// Rows of x in the bf16 form: per row, step and chunk j four vectors J = 0..3, whose lane l
// holds the bfloat16 words of elements 8j + J and 8j + J + 4 of group l (the nibbles J and
// J + 4 of the chunk's dword, as unpack() pairs them); and the float sums of every group.
struct PreparedX {
  int64_t word_stride, sums_stride;  // per row of x, in elements
  const uint16_t* words;
  const float* sums;
};

// Words 2i + 1 (the bfloat16 of float i) of groups 4a..4a+3 of x, for chunk j: dword 4J + b of
// the result is (element 8j + J, element 8j + J + 4) of group 4a + b.
struct ChunkIndex {
  alignas(64) uint16_t words[32];
  constexpr ChunkIndex() : words{} {
    for (int J = 0; J < 4; ++J)
      for (int b = 0; b < 4; ++b) {
        // Float i of group b is words 16b + 2i (low half) and 16b + 2i + 1 (its bfloat16).
        const int base = 16 * b + 1;
        words[2 * (4 * J + b)] = static_cast<uint16_t>(base + 2 * J);
        words[2 * (4 * J + b) + 1] = static_cast<uint16_t>(base + 2 * (J + 4));
      }
  }
};
constexpr ChunkIndex kChunkIndex{};

// Elements [8j, 8j + 8) of groups g and g + 1 of x (gs apart) as 16 floats.
TESSERA_BF16 inline __m512i two_groups(const float* x, int64_t gs) {
  const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  return _mm512_inserti64x4(_mm512_castsi256_si512(first), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + gs)), 1);
}

// The four vectors J of one chunk j of one step (its 16 groups from xs): each group's 8 elements
// paired by vpermt2w into 128-bit lane J of one vector per 4 groups, then the 128-bit lanes
// transposed.
TESSERA_BF16 inline void prepare_chunk(const float* xs, int64_t gs, uint16_t* out) {
  const __m512i index = _mm512_load_si512(kChunkIndex.words);
  __m512i z[4];
  for (int a = 0; a < 4; ++a) {
    const float* x = xs + 4 * a * gs;
    z[a] = _mm512_permutex2var_epi16(two_groups(x, gs), index, two_groups(x + 2 * gs, gs));
  }
  const __m512i t01 = _mm512_shuffle_i32x4(z[0], z[1], _MM_SHUFFLE(1, 0, 1, 0));
  const __m512i t23 = _mm512_shuffle_i32x4(z[2], z[3], _MM_SHUFFLE(1, 0, 1, 0));
  const __m512i u01 = _mm512_shuffle_i32x4(z[0], z[1], _MM_SHUFFLE(3, 2, 3, 2));
  const __m512i u23 = _mm512_shuffle_i32x4(z[2], z[3], _MM_SHUFFLE(3, 2, 3, 2));
  _mm512_store_si512(out, _mm512_shuffle_i32x4(t01, t23, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_store_si512(out + 32, _mm512_shuffle_i32x4(t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
  _mm512_store_si512(out + 64, _mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_store_si512(out + 96, _mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

TESSERA_BF16 void prepare_row(const float* x, const QuantizedMatrix& w, const Geometry& geo, uint16_t* words,
                              float* sums) {
  const int64_t gs = w.group_size;
  for (int64_t s = 0; s < geo.steps; ++s)
    for (int64_t j = 0; j < geo.chunks; ++j, words += 128) prepare_chunk(x + s * kStepGroups * gs + 8 * j, gs, words);
  std::fill_n(sums, geo.groups, 0.0f);
  qint8::detail::add_group_sums(x, w.cols, static_cast<int>(gs), sums);
}

PreparedX prepare_x(const float* x, int64_t M, const QuantizedMatrix& w, const Geometry& geo) {
  PreparedX px{w.cols, geo.groups, nullptr, nullptr};
  auto* words = static_cast<uint16_t*>(scratch(M * (w.cols * sizeof(uint16_t) + geo.groups * sizeof(float))));
  auto* sums = reinterpret_cast<float*>(words + M * w.cols);
  for (int64_t m = 0; m < M; ++m) prepare_row(x + m * w.cols, w, geo, words + m * w.cols, sums + m * geo.groups);
  px.words = words;
  px.sums = sums;
  return px;
}

// Nibbles J and J + 4 of every 32-bit lane of v (bits 4J and 16 + 4J) as bfloat16 128 + q.
template <int J>
TESSERA_BF16 inline __m512bh unpack(__m512i v) {
  const __m512i shifted = J == 0 ? v : _mm512_srli_epi32(v, 4 * J);
  // (shifted & 0x000F000F) | 0x43004300
  return (__m512bh)_mm512_ternarylogic_epi32(shifted, _mm512_set1_epi32(0x000F000F), _mm512_set1_epi32(0x43004300),
                                             0xEA);
}

// Rows of x whose sums of a step stay in registers; more rows sweep the step again, its weights
// then in L1.
constexpr int kSweepRows = 4;
static_assert(kMaxRows <= 2 * kSweepRows, "tile() sweeps a pass at most twice");

using Rows = PassRows<PreparedX>;

// The step's sums (chunks from c) for rows [m0, m0 + MR) of x. Each (weight row, x row) pair
// accumulates its dot products in two chains, even and odd chunks, so that at MR = 4 sixteen
// chains hide the latency of vdpbf16ps (six cycles, two per cycle); a chain per pair was latency
// bound, and short chains from zero added to a sum cost an add per four dot products (8 rows of
// x, 2048 x 2048 in cache: 326 -> 360 GMAC/s). Every pair takes the same operations in the same
// order whatever MR, so a row of a batch gets exactly the product of that row alone. With one row
// of x the four chains of a tile cap the kernel in cache near DRAM bandwidth (~88 GB/s of weights
// on 2 threads); two tiles read side by side lifted that by a fifth but, as two streams, lost a
// quarter of the bandwidth from DRAM (one token of a 1B model: 63 against 85 t/s at a ~70-87 GB/s
// probe).
template <int MR>
TESSERA_BF16 inline void sweep(const std::byte* c, const Geometry& geo, int64_t s, const PreparedX& x, int64_t m0,
                               int64_t prefetch, __m512 (&step)[kTileRows][kSweepRows]) {
  const uint16_t* xs[MR];
  for (int m = 0; m < MR; ++m) xs[m] = x.words + (m0 + m) * x.word_stride + s * geo.chunks * 128;
  __m512 chain[kTileRows][MR][2];
  for (auto& row : chain)
    for (auto& pair : row)
      for (auto& v : pair) v = _mm512_setzero_ps();
  for (int64_t j = 0; j < geo.chunks; j += 2) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h, c += kTileRows * 64) {
      if (prefetch)
        for (int64_t r = 0; r < kTileRows; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(c + r * 64 + prefetch), _MM_HINT_T0);
      __m512bh q[kTileRows][4];
      for (int r = 0; r < kTileRows; ++r) {
        const __m512i v = _mm512_load_si512(c + r * 64);
        q[r][0] = unpack<0>(v);
        q[r][1] = unpack<1>(v);
        q[r][2] = unpack<2>(v);
        q[r][3] = unpack<3>(v);
      }
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m) {
        const uint16_t* xj = xs[m] + (j + h) * 128;
#pragma GCC unroll 4
        for (int J = 0; J < 4; ++J) {
          const auto xv = (__m512bh)_mm512_load_si512(xj + 32 * J);
          for (int r = 0; r < kTileRows; ++r) chain[r][m][h] = _mm512_dpbf16_ps(chain[r][m][h], q[r][J], xv);
        }
      }
    }
  }
  for (int r = 0; r < kTileRows; ++r)
    for (int m = 0; m < MR; ++m) step[r][m] = _mm512_add_ps(chain[r][m][0], chain[r][m][1]);
}

// acc[m] += the step's sums of rows [m0, m0 + MR) of x times the scales, plus the bias terms.
template <int MR>
TESSERA_BF16 inline void scale_step(const std::byte* p, const Geometry& geo, ScaleType st, int64_t s,
                                    const float* const* sums, const __m512 (&step)[kTileRows][kSweepRows],
                                    __m512 (*acc)[kTileRows]) {
  for (int r = 0; r < kTileRows; ++r) {
    const std::byte* pr = p + r * geo.param_bytes;
    const __m512 S = load_params(pr, st);
    const __m512 B = _mm512_fnmadd_ps(S, _mm512_set1_ps(kOffset), load_params(pr + kStepGroups * scale_size(st), st));
    for (int m = 0; m < MR; ++m) {
      const __m512 x_sums = _mm512_loadu_ps(sums[m] + s * kStepGroups);
      acc[m][r] = _mm512_fmadd_ps(step[r][m], S, _mm512_fmadd_ps(B, x_sums, acc[m][r]));
    }
  }
}

// acc += step s of the tile at p (p at the step) for rows [m0, m0 + MR) of x, prefetching
// `prefetch` bytes ahead into L1 and, unless 0, the step `l2_ahead` bytes ahead into L2.
template <int MR>
TESSERA_BF16 inline void add_step(const std::byte* p, int64_t s, const Geometry& geo, ScaleType st, const Rows& rows,
                                  const float* const* sums, int64_t prefetch, int64_t l2_ahead,
                                  __m512 (*acc)[kTileRows]) {
  const PreparedX& x = *rows.x;
  for (int64_t o = 0; o < kTileRows * geo.param_bytes; o += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + o + prefetch), _MM_HINT_T0);
  if (l2_ahead)
    for (int64_t o = 0; o < geo.step_bytes; o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + o + l2_ahead), _MM_HINT_T1);
  const std::byte* c = p + kTileRows * geo.param_bytes;
  __m512 step[kTileRows][kSweepRows];
  if constexpr (MR <= kSweepRows) {
    sweep<MR>(c, geo, s, x, rows.m0, prefetch, step);
    scale_step<MR>(p, geo, st, s, sums, step, acc);
  } else {
    sweep<kSweepRows>(c, geo, s, x, rows.m0, prefetch, step);
    scale_step<kSweepRows>(p, geo, st, s, sums, step, acc);
    sweep<MR - kSweepRows>(c, geo, s, x, rows.m0 + kSweepRows, 0, step);
    scale_step<MR - kSweepRows>(p, geo, st, s, sums + kSweepRows, step, acc + kSweepRows);
  }
}

template <int MR>
struct RowSums {
  const float* at[MR];
  explicit RowSums(const Rows& rows) {
    for (int m = 0; m < MR; ++m) at[m] = rows.x->sums + (rows.m0 + m) * rows.x->sums_stride;
  }
};

template <int MR>
TESSERA_BF16 void store_tile(const __m512 (&acc)[MR][kTileRows], int64_t n, const Rows& rows) {
  for (int m = 0; m < MR; ++m)
    for (int r = 0; r < kTileRows; ++r) rows.y[(rows.m0 + m) * rows.N + n + r] = _mm512_reduce_add_ps(acc[m][r]);
}

// One tile, step after step: one sequential stream.
template <int MR>
TESSERA_BF16 void tile(const Geometry& geo, ScaleType st, const std::byte* p, int64_t n, const Rows& rows) {
  const RowSums<MR> sums(rows);
  __m512 acc[MR][kTileRows];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  for (int64_t s = 0; s < geo.steps; ++s, p += geo.step_bytes)
    add_step<MR>(p, s, geo, st, rows, sums.at, kPrefetchBytes, 0, acc);
  store_tile<MR>(acc, n, rows);
}

// Tiles that several rows of x go through step by step together once x outgrows L1, so that the
// rows' x of a step (2 KiB each at group size 64) stays in L1 for all of them: tile after tile,
// the whole of x came from L2. 8 rows of x, huge pages: 2048 x 8192 259 -> 335 GMAC/s. Where x
// fits, the tiles' interleaved streams cost more than they save (128256 x 2048: 304 -> 214).

bool blocked(int MR, const QuantizedMatrix& w) {
  return MR > 1 && MR * w.cols * static_cast<int64_t>(sizeof(uint16_t)) > kL1Bytes;
}

// Tiles [t0, t0 + count) (count <= kBlockTiles) for MR rows of x; each tile's stream prefetches
// its next step.
template <int MR>
TESSERA_BF16 void tile_block(const Geometry& geo, ScaleType st, const std::byte* layout, int64_t t0, int64_t count,
                             const Rows& rows) {
  const RowSums<MR> sums(rows);
  __m512 acc[kBlockTiles][MR][kTileRows];
  for (auto& t : acc)
    for (auto& row : t)
      for (auto& v : row) v = _mm512_setzero_ps();
  for (int64_t s = 0; s < geo.steps; ++s)
    for (int64_t t = 0; t < count; ++t)
      add_step<MR>(layout + (t0 + t) * geo.tile_bytes + s * geo.step_bytes, s, geo, st, rows, sums.at, geo.step_bytes,
                   kBlockTiles * geo.tile_bytes,
                   acc[t]);
  for (int64_t t = 0; t < count; ++t) store_tile<MR>(acc[t], (t0 + t) * kTileRows, rows);
}

}  // namespace

bool bf16_form() {
  static const bool cpu = __builtin_cpu_supports("avx512bf16");
  return cpu;
}

void gemv_bf16(const float* x, int64_t M, const Target* targets, int64_t count) {
  const QuantizedMatrix& w = *targets[0].w;
  const Geometry geo(w);
  const PreparedX px = prepare_x(x, M, w, geo);
  for_each_pass(M, [&](auto rows, int64_t m0) {
    constexpr int MR = decltype(rows)::value;
    auto pass = [&](int64_t i) { return Rows(&px, m0, targets[i]); };
    stream_tiles(
        geo, targets, count, blocked(MR, w),
        [&](int64_t i, int64_t t) {
          tile<MR>(geo, w.scale_type, targets[i].layout + t * geo.tile_bytes, t * kTileRows, pass(i));
        },
        [&](int64_t i, int64_t t, int64_t n) { tile_block<MR>(geo, w.scale_type, targets[i].layout, t, n, pass(i)); },
        [&](int64_t i, int64_t t0, int64_t t1) { finish_tiles(pass(i), MR, t0, t1); });
  });
}

}  // namespace tessera::cpu::qdecode::detail
