#include "backend/cpu/quantized_decode.h"

// GCC 12's AVX-512 intrinsics (reductions, conversions) start from _mm512_undefined_*(), which
// its -W(maybe-)uninitialized reports once they are inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "backend/cpu/thread_pool.h"

#define TESSERA_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace tessera::cpu::qdecode {

namespace {

// Groups whose lanes one vector holds.
constexpr int64_t kStepGroups = 16;
// Elements of x that share one int8 scale (as in quantized_int8.h).
constexpr int64_t kBlock = 32;
// x = dx * (coarse + fine / 2^kFineShift).
constexpr int kFineShift = 8;
constexpr float kFineSteps = 1 << kFineShift;
// How far ahead of its loads a tile prefetches: the layout is one stream per tile, and tiles
// follow each other, so prefetching a fixed distance ahead runs across tiles.
constexpr int64_t kPrefetchBytes = 4096;

int64_t scale_size(ScaleType t) { return t == ScaleType::float32 ? 4 : 2; }

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

// x prepared for the kernel: per step and chunk the int8 terms that multiply the chunk's weight
// vectors (4 bits: coarse of the low nibbles, coarse of the high nibbles, fine of each; 8 bits:
// coarse, fine), per step and block of 32 elements of each group the 16 lanes' dx / kFineSteps,
// and the float sums of every group.
struct PreparedX {
  std::unique_ptr<void, decltype(&std::free)> storage{nullptr, &std::free};
  int8_t* terms;
  float* dx;
  float* sums;
};

constexpr int64_t term_bytes_per_chunk(int bits) { return bits == 4 ? 256 : 128; }

// The coarse (round(t)) and fine (round((t - coarse) * kFineSteps), saturated) terms of 16
// elements x = t * dx, as in quantized_int8.cpp.
TESSERA_VNNI void split(__m512 t, uint32_t coarse[4], uint32_t fine[4]) {
  const __m512 rounded = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(coarse), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rounded)));
  const __m512 rest = _mm512_mul_ps(_mm512_sub_ps(t, rounded), _mm512_set1_ps(kFineSteps));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(fine), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rest)));
}

// Writes the dwords of a 16-element term into lane `lane` of chunks first, first + 1, ... at
// `vector` (a byte offset within each chunk's terms).
void put_dwords(const uint32_t (&dwords)[4], int8_t* chunk0, int64_t chunk_stride, int64_t vector, int64_t lane) {
  for (int i = 0; i < 4; ++i) std::memcpy(chunk0 + i * chunk_stride + vector + 4 * lane, &dwords[i], 4);
}

// Block b of group g of x: 32 elements.
TESSERA_VNNI void prepare_block(const float* x, int bits, int64_t gs, int64_t chunks, int64_t g, int64_t b,
                                PreparedX& px) {
  const int64_t s = g / kStepGroups, lane = g % kStepGroups, blocks = gs / kBlock;
  const float* xb = x + g * gs + b * kBlock;
  const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
  px.dx[(s * blocks + b) * kStepGroups + lane] = amax / 127.0f / kFineSteps;
  px.sums[g] += _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
  const __m512 t0 = _mm512_mul_ps(v0, inv), t1 = _mm512_mul_ps(v1, inv);
  const int64_t X = term_bytes_per_chunk(bits);
  // The block's first chunk: a dword holds 8 elements at 4 bits, 4 at 8 bits.
  int8_t* chunk0 = px.terms + (s * chunks + b * kBlock * bits / 32) * X;
  uint32_t coarse[4], fine[4];
  if (bits == 4) {
    // Byte k of a dword multiplies element 2k (low nibble) or 2k + 1 (high nibble).
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    split(_mm512_permutex2var_ps(t0, even, t1), coarse, fine);
    put_dwords(coarse, chunk0, X, 0, lane);
    put_dwords(fine, chunk0, X, 128, lane);
    split(_mm512_permutex2var_ps(t0, odd, t1), coarse, fine);
    put_dwords(coarse, chunk0, X, 64, lane);
    put_dwords(fine, chunk0, X, 192, lane);
  } else {
    split(t0, coarse, fine);
    put_dwords(coarse, chunk0, X, 0, lane);
    put_dwords(fine, chunk0, X, 64, lane);
    split(t1, coarse, fine);
    put_dwords(coarse, chunk0 + 4 * X, X, 0, lane);
    put_dwords(fine, chunk0 + 4 * X, X, 64, lane);
  }
}

PreparedX prepare_x(const float* x, const QuantizedMatrix& w, const Geometry& geo) {
  const int64_t K = w.cols;
  const size_t term_bytes = static_cast<size_t>(K) * 2;
  const size_t dx_bytes = static_cast<size_t>(K / kBlock) * sizeof(float);
  const size_t sums_bytes = static_cast<size_t>(geo.groups) * sizeof(float);
  PreparedX px;
  px.storage.reset(std::aligned_alloc(64, (term_bytes + dx_bytes + sums_bytes + 63) / 64 * 64));
  if (!px.storage) throw std::bad_alloc();
  px.terms = static_cast<int8_t*>(px.storage.get());
  px.dx = reinterpret_cast<float*>(px.terms + term_bytes);
  px.sums = px.dx + K / kBlock;
  std::fill_n(px.sums, geo.groups, 0.0f);
  for (int64_t g = 0; g < geo.groups; ++g)
    for (int64_t b = 0; b < w.group_size / kBlock; ++b) prepare_block(x, w.bits, w.group_size, geo.chunks, g, b, px);
  return px;
}

// 16 scales or biases as float32.
TESSERA_VNNI inline __m512 load_params(const std::byte* p, ScaleType t) {
  if (t == ScaleType::float32) return _mm512_load_ps(p);
  const __m256i h = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  return t == ScaleType::float16 ? _mm512_cvtph_ps(h)
                                 : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// The int32 sums of one block of 32 elements for each row of a tile: a[r][0..1] of the coarse
// term (two chains), a[r][2..3] of the fine one.
template <int BITS>
TESSERA_VNNI inline void block_dots(const std::byte* c, const int8_t* xc, __m512i (&a)[kTileRows][4]) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
  for (int i = 0; i < BITS; ++i, c += kTileRows * 64, xc += term_bytes_per_chunk(BITS)) {
    for (int64_t r = 0; r < kTileRows; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * 64 + kPrefetchBytes), _MM_HINT_T0);
    if constexpr (BITS == 4) {
      const __m512i c_lo = _mm512_load_si512(xc), c_hi = _mm512_load_si512(xc + 64);
      const __m512i f_lo = _mm512_load_si512(xc + 128), f_hi = _mm512_load_si512(xc + 192);
#pragma GCC unroll 2
      for (int64_t r = 0; r < kTileRows; ++r) {
        const __m512i v = _mm512_load_si512(c + r * 64);
        const __m512i lo = _mm512_and_si512(v, nibble), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
        a[r][0] = _mm512_dpbusd_epi32(a[r][0], lo, c_lo);
        a[r][1] = _mm512_dpbusd_epi32(a[r][1], hi, c_hi);
        a[r][2] = _mm512_dpbusd_epi32(a[r][2], lo, f_lo);
        a[r][3] = _mm512_dpbusd_epi32(a[r][3], hi, f_hi);
      }
    } else {
      const __m512i coarse = _mm512_load_si512(xc), fine = _mm512_load_si512(xc + 64);
#pragma GCC unroll 2
      for (int64_t r = 0; r < kTileRows; ++r) {
        const __m512i v = _mm512_load_si512(c + r * 64);
        a[r][i % 2] = _mm512_dpbusd_epi32(a[r][i % 2], v, coarse);
        a[r][2 + i % 2] = _mm512_dpbusd_epi32(a[r][2 + i % 2], v, fine);
      }
    }
  }
}

// y of the kTileRows rows of the tile at p.
template <int BITS>
TESSERA_VNNI void tile(const Geometry& geo, ScaleType st, int64_t gs, const std::byte* p, const PreparedX& x,
                       float* y) {
  constexpr int64_t X = term_bytes_per_chunk(BITS);
  const int64_t blocks = gs / kBlock, params = scale_size(st) * kStepGroups;
  __m512 acc[kTileRows];
  for (auto& v : acc) v = _mm512_setzero_ps();
  for (int64_t s = 0; s < geo.steps; ++s, p += geo.step_bytes) {
    for (int64_t o = 0; o < kTileRows * geo.param_bytes; o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + o + kPrefetchBytes), _MM_HINT_T0);
    __m512 S[kTileRows];
    const __m512 sums = _mm512_loadu_ps(x.sums + s * kStepGroups);
    for (int64_t r = 0; r < kTileRows; ++r) {
      S[r] = load_params(p + r * geo.param_bytes, st);
      acc[r] = _mm512_fmadd_ps(load_params(p + r * geo.param_bytes + params, st), sums, acc[r]);
    }
    const std::byte* c = p + kTileRows * geo.param_bytes;
    const int8_t* xc = x.terms + s * geo.chunks * X;
    for (int64_t b = 0; b < blocks; ++b, c += BITS * kTileRows * 64, xc += BITS * X) {
      __m512i a[kTileRows][4];
      for (auto& row : a)
        for (auto& v : row) v = _mm512_setzero_si512();
      block_dots<BITS>(c, xc, a);
      const __m512 dx = _mm512_loadu_ps(x.dx + (s * blocks + b) * kStepGroups);
      for (int64_t r = 0; r < kTileRows; ++r) {
        const __m512i coarse = _mm512_add_epi32(a[r][0], a[r][1]), fine = _mm512_add_epi32(a[r][2], a[r][3]);
        const __m512i d = _mm512_add_epi32(_mm512_slli_epi32(coarse, kFineShift), fine);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(S[r], dx), acc[r]);
      }
    }
  }
  for (int64_t r = 0; r < kTileRows; ++r) y[r] = _mm512_reduce_add_ps(acc[r]);
}

template <int BITS>
void run_tiles(const float* x, const QuantizedMatrix& w, const std::byte* layout, float* y) {
  const Geometry geo(w);
  const PreparedX px = prepare_x(x, w, geo);
  parallel_for(w.rows / kTileRows, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      tile<BITS>(geo, w.scale_type, w.group_size, layout + t * geo.tile_bytes, px, y + t * kTileRows);
  });
}

}  // namespace

bool supports(const QuantizedMatrix& w) {
  static const bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  const bool group_size = w.group_size == 32 || w.group_size == 64 || w.group_size == 128;
  return cpu && (w.bits == 4 || w.bits == 8) && group_size && w.rows > 0 && w.rows % kTileRows == 0 &&
         w.cols > 0 && w.cols % (w.group_size * kStepGroups) == 0;
}

size_t layout_bytes(const QuantizedMatrix& w) {
  return static_cast<size_t>(w.rows / kTileRows) * static_cast<size_t>(Geometry(w).tile_bytes);
}

void write_layout(const QuantizedMatrix& w, std::byte* layout) {
  const Geometry geo(w);
  const int64_t size = scale_size(w.scale_type), words = w.words_per_row();
  const auto* scales = static_cast<const std::byte*>(w.scales);
  const auto* biases = static_cast<const std::byte*>(w.biases);
  parallel_for(w.rows / kTileRows, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t s = 0; s < geo.steps; ++s) {
        std::byte* step = layout + t * geo.tile_bytes + s * geo.step_bytes;
        auto* chunks = reinterpret_cast<uint32_t*>(step + kTileRows * geo.param_bytes);
        for (int64_t r = 0; r < kTileRows; ++r) {
          const int64_t n = t * kTileRows + r, g0 = n * geo.groups + s * kStepGroups;
          std::memcpy(step + r * geo.param_bytes, scales + g0 * size, kStepGroups * size);
          std::memcpy(step + r * geo.param_bytes + kStepGroups * size, biases + g0 * size, kStepGroups * size);
          const uint32_t* src = w.packed + n * words + s * kStepGroups * geo.chunks;
          for (int64_t j = 0; j < geo.chunks; ++j)
            for (int64_t l = 0; l < kStepGroups; ++l)
              chunks[(j * kTileRows + r) * kStepGroups + l] = src[l * geo.chunks + j];
        }
      }
    }
  });
}

void gemv(const float* x, const QuantizedMatrix& w, const std::byte* layout, float* y) {
  if (w.bits == 4) return run_tiles<4>(x, w, layout, y);
  run_tiles<8>(x, w, layout, y);
}

}  // namespace tessera::cpu::qdecode
