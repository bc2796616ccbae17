// The decode layout's geometry and the pieces its two forms of x share (quantized_decode.h
// describes the layout; quantized_decode.cpp multiplies with int8 terms of x,
// quantized_decode_bf16.cpp with bfloat16 x).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "backend/cpu/quantized.h"
#include "backend/cpu/quantized_decode.h"
#include "backend/cpu/simd_convert.h"
#include "backend/cpu/streaming_for.h"

#define TESSERA_DECODE_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace tessera::cpu::qdecode::detail {

// Groups whose lanes one vector holds.
constexpr int64_t kStepGroups = 16;

// How far ahead of its loads a tile prefetches: the layout is one stream per tile, and tiles
// follow each other, so prefetching a fixed distance ahead runs across tiles. A 512 MB 4-bit
// matrix against a ~83 GB/s probe: 62, 69, 73 and 70 GB/s at 2, 4, 8 and 16 KiB (8-bit: 59, 67,
// 72, 67); at ~50 GB/s 4 and 8 KiB are equal.
constexpr int64_t kPrefetchBytes = 8192;

inline int64_t scale_size(ScaleType t) { return t == ScaleType::float32 ? 4 : 2; }

struct Geometry {
  int64_t groups, steps;
  int64_t param_bytes;  // the scales and biases of one row in one step
  int64_t chunks;       // per row and step: the dwords of one group
  int64_t step_bytes;   // of a tile
  int64_t tile_bytes;

  explicit Geometry(const QuantizedMatrix& w)
      : groups(w.groups_per_row()),
        steps(groups / kStepGroups),
        param_bytes(2 * kStepGroups * scale_size(w.scale_type)),
        chunks(w.group_size * w.bits / 32),
        step_bytes(kTileRows * (param_bytes + chunks * 64)),
        tile_bytes(steps * step_bytes) {}
};

// A 64-byte aligned buffer of at least `bytes`, the calling thread's, reused by its next call:
// decoding prepares x a hundred times per token.
void* scratch(size_t bytes);

// 16 scales or biases as float32.
TESSERA_DECODE_TARGET inline __m512 load_params(const std::byte* p, ScaleType t) {
  if (t == ScaleType::float32) return _mm512_load_ps(p);
  const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  return t == ScaleType::float16 ? _mm512_cvtph_ps(h)
                                 : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// Requests the first kPrefetchBytes of [begin, begin + bytes) at once rather than one miss at a
// time: the tiles prefetch kPrefetchBytes ahead of their loads (1B 4-bit model at ~50 GB/s:
// tg128 +1.3 %, five alternations of five).
inline void prefetch_head(const std::byte* begin, int64_t bytes) {
  const int64_t head = bytes < kPrefetchBytes ? bytes : kPrefetchBytes;
  for (int64_t o = 0; o < head; o += 64) _mm_prefetch(reinterpret_cast<const char*>(begin + o), _MM_HINT_T0);
}

// Where a pass reads and writes: rows [m0, m0 + MR) of x, prepared by a form (its PreparedX), and
// of y [M, N]; where y_bf16 is given, y's rows also go there in bfloat16.
template <class PreparedX>
struct PassRows {
  const PreparedX* x;
  int64_t m0;
  float* y;
  int64_t N;
  uint16_t* y_bf16;

  PassRows(const PreparedX* x, int64_t m0, const Target& t) : x(x), m0(m0), y(t.y), N(t.w->rows), y_bf16(t.y_bf16) {}
};

// After tiles [t0, t1) of a pass of `rows` rows: their columns of y in bfloat16 where asked for,
// by the thread that computed them, while they are in its cache (a pass of its own over the
// outputs took 0.6 ms of a 22 ms step of 8 sequences of a 1B model).
template <class Rows>
void finish_tiles(const Rows& r, int64_t rows, int64_t t0, int64_t t1) {
  if (!r.y_bf16) return;
  for (int64_t m = r.m0; m < r.m0 + rows; ++m)
    f32_to_bf16(r.y + m * r.N + t0 * kTileRows, r.y_bf16 + m * r.N + t0 * kTileRows, (t1 - t0) * kTileRows);
}

// Where several rows' x of the whole product outgrows L1, tiles go through their steps together,
// kBlockTiles at a time, so that the rows' x of one step stays in L1 for all of them.
constexpr int64_t kBlockTiles = 4;
constexpr int64_t kL1Bytes = 32 << 10;

// Hands the tiles of every target (one product, stored matrix after matrix) to the threads, each
// a contiguous range taken front to back (streaming_for): one at a time to tile(i, t) for tile t of
// target i, after requesting the head of the range, or up to kBlockTiles at a time to
// block(i, t, count) where `blocked`; then done(i, t0, t1) for each part of a range finished.
template <class Tile, class Block, class Done>
void stream_tiles(const Geometry& geo, const Target* targets, int64_t count, bool blocked, const Tile& tile,
                  const Block& block, const Done& done) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += targets[i].w->rows / kTileRows;
  streaming_for(total, blocked ? kBlockTiles : 1, [&](int64_t begin, int64_t end) {
    int64_t first = 0;  // the virtual index of target i's first tile
    for (int64_t i = 0; i < count && first < end; ++i) {
      const int64_t tiles = targets[i].w->rows / kTileRows;
      const int64_t t0 = std::max<int64_t>(begin - first, 0), t1 = std::min<int64_t>(end - first, tiles);
      first += tiles;
      if (t0 >= t1) continue;
      if (blocked) {
        for (int64_t t = t0; t < t1; t += kBlockTiles) block(i, t, std::min(kBlockTiles, t1 - t));
      } else {
        prefetch_head(targets[i].layout + t0 * geo.tile_bytes, (t1 - t0) * geo.tile_bytes);
        for (int64_t t = t0; t < t1; ++t) tile(i, t);
      }
      done(i, t0, t1);
    }
  });
}

// Calls pass(rows, m0) for the M rows of x in passes of up to kMaxRows from m0, `rows` an
// std::integral_constant so that each pass size runs its own kernel.
template <class Pass, int... MR>
void for_each_pass(int64_t M, const Pass& pass, std::integer_sequence<int, MR...>) {
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRows) {
    const int64_t rows = std::min(kMaxRows, M - m0);
    ((rows == MR + 1 ? pass(std::integral_constant<int, MR + 1>(), m0) : void()), ...);
  }
}

template <class Pass>
void for_each_pass(int64_t M, const Pass& pass) {
  for_each_pass(M, pass, std::make_integer_sequence<int, kMaxRows>());
}

// Whether this CPU multiplies bfloat16 values (AVX-512 BF16).
bool bf16_form();

// gemv_many with 4-bit weights and bfloat16 x, see quantized_decode_bf16.cpp.
void gemv_bf16(const float* x, int64_t M, const Target* targets, int64_t count);

// gemv_many with x rounded to one int8 term per element, see quantized_decode_int8.cpp.
void gemv_int8(Input x, int64_t M, const Target* targets, int64_t count);

}  // namespace tessera::cpu::qdecode::detail
