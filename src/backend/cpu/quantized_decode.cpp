#include "backend/cpu/quantized_decode.h"

#include "backend/cpu/quantized_decode_layout.h"

// GCC 12's AVX-512 intrinsics (reductions, conversions) start from _mm512_undefined_*(), which
// its -W(maybe-)uninitialized reports once they are inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

#include "backend/cpu/quantized_int8_layout.h"
#include "backend/cpu/streaming_for.h"

namespace tessera::cpu::qdecode {

using namespace detail;

namespace {

// x is rounded as in MLX's layout (quantized_int8.h): per block of kBlock elements one scale dx,
// and x = dx * (coarse + fine / kFineSteps).
using qint8::detail::kBlock;
using qint8::detail::kFineShift;
using qint8::detail::kFineSteps;

// Each element of x is carried by two int8 terms, coarse + fine / 256 (as quantized_int8.h), so
// that products stay within float tolerance of the float product. One term (llama.cpp's Q8_0
// activations) would halve the dot products but, measured on a 512 x 2048 product of normal
// weights at 4 bits (group size 64), leaves an rms error of 1.5 % of the product (2.7 % with
// eight activations 20x the others) against 0.006 % with two.
//
// Bytes of x's terms per chunk: per term one vector of the low nibbles' elements and one of the
// high nibbles' at 4 bits, one vector at 8 bits. One byte per element and term either way.
template <int BITS>
constexpr int64_t kChunkTermBytes = 2 * (BITS == 4 ? 128 : 64);

// Rows of x prepared for the kernel: per row, step and chunk the int8 terms that multiply the
// chunk's weight vectors (in the order coarse, fine); per row, step and block of 32 elements of
// each group the 16 lanes' scale dx; the float sums of every group.
struct PreparedX {
  int64_t term_stride, dx_stride, sums_stride;  // per row of x, in elements
  int8_t* terms;
  float* dx;
  float* sums;
};

// Rounds 16 elements t (x / dx) to two int8 terms: coarse = round(t) and
// fine = round((t - coarse) * kFineSteps) saturated.
TESSERA_DECODE_TARGET void split(__m512 t, uint32_t coarse[4], uint32_t fine[4]) {
  const __m512 rounded = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(coarse), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rounded)));
  const __m512 rest = _mm512_mul_ps(_mm512_sub_ps(t, rounded), _mm512_set1_ps(kFineSteps));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(fine), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(rest)));
}

// Writes the dwords of a 16-element term into lane `lane` of four chunks from chunk0, at byte
// `vector` of each chunk's terms.
void put_dwords(const uint32_t (&dwords)[4], int8_t* chunk0, int64_t chunk_stride, int64_t vector, int64_t lane) {
  for (int i = 0; i < 4; ++i) std::memcpy(chunk0 + i * chunk_stride + vector + 4 * lane, &dwords[i], 4);
}

// Block b of group g of one row of x: 32 elements.
template <int BITS>
TESSERA_DECODE_TARGET void prepare_block(const float* x, int64_t gs, int64_t chunks, int64_t g, int64_t b, int8_t* terms,
                                float* dx, float* sums) {
  constexpr int64_t X = kChunkTermBytes<BITS>;
  const int64_t s = g / kStepGroups, lane = g % kStepGroups, blocks = gs / kBlock;
  const float* xb = x + g * gs + b * kBlock;
  const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
  dx[(s * blocks + b) * kStepGroups + lane] = amax / 127.0f / kFineSteps;
  sums[g] += _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
  const __m512 t0 = _mm512_mul_ps(v0, inv), t1 = _mm512_mul_ps(v1, inv);
  // The block's first chunk: a dword holds 8 elements at 4 bits, 4 at 8 bits.
  int8_t* chunk0 = terms + (s * chunks + b * BITS) * X;
  constexpr int64_t fine_at = X / 2;
  uint32_t coarse[4], fine[4];
  if constexpr (BITS == 4) {
    // Byte k of a dword multiplies element 2k (low nibble) or 2k + 1 (high nibble).
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    split(_mm512_permutex2var_ps(t0, even, t1), coarse, fine);
    put_dwords(coarse, chunk0, X, 0, lane);
    put_dwords(fine, chunk0, X, fine_at, lane);
    split(_mm512_permutex2var_ps(t0, odd, t1), coarse, fine);
    put_dwords(coarse, chunk0, X, 64, lane);
    put_dwords(fine, chunk0, X, fine_at + 64, lane);
  } else {
    for (int h = 0; h < 2; ++h) {
      split(h == 0 ? t0 : t1, coarse, fine);
      put_dwords(coarse, chunk0 + 4 * h * X, X, 0, lane);
      put_dwords(fine, chunk0 + 4 * h * X, X, fine_at, lane);
    }
  }
}

template <int BITS>
PreparedX prepare_x(const float* x, int64_t M, const QuantizedMatrix& w, const Geometry& geo) {
  const int64_t K = w.cols;
  PreparedX px;
  px.term_stride = 2 * K;
  px.dx_stride = K / kBlock;
  px.sums_stride = geo.groups;
  const size_t bytes = M * (px.term_stride + (px.dx_stride + px.sums_stride) * sizeof(float));
  px.terms = static_cast<int8_t*>(scratch(bytes));
  px.dx = reinterpret_cast<float*>(px.terms + M * px.term_stride);
  px.sums = px.dx + M * px.dx_stride;
  std::fill_n(px.sums, M * px.sums_stride, 0.0f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < geo.groups; ++g)
      for (int64_t b = 0; b < w.group_size / kBlock; ++b)
        prepare_block<BITS>(x + m * K, w.group_size, geo.chunks, g, b, px.terms + m * px.term_stride,
                            px.dx + m * px.dx_stride, px.sums + m * px.sums_stride);
  return px;
}

// Independent int32 sums per (weight row, x row) pair, so that the dot products do not wait on
// each other: the two terms apart, and with few pairs also the low and high nibbles (4 bits) or
// even and odd chunks (8 bits). The split changes no result: int32 sums are exact.
template <int PAIRS>
constexpr int kChains = PAIRS <= 2 ? 4 : 2;

// The int32 sums of one block of 32 elements (BITS chunks from c) for both weight rows of a tile
// and MR rows of x.
template <int BITS, int MR>
TESSERA_DECODE_TARGET inline void block_dots(const std::byte* c, const int8_t* const* xc, bool prefetch,
                                    __m512i (&a)[kTileRows][MR][kChains<kTileRows * MR>]) {
  constexpr int C = kChains<kTileRows * MR>;
  constexpr int64_t X = kChunkTermBytes<BITS>;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
  for (int i = 0; i < BITS; ++i, c += kTileRows * 64) {
    if (prefetch)
      for (int64_t r = 0; r < kTileRows; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(c + r * 64 + kPrefetchBytes), _MM_HINT_T0);
    __m512i lo[kTileRows], hi[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      const __m512i v = _mm512_load_si512(c + r * 64);
      if constexpr (BITS == 4) {
        lo[r] = _mm512_and_si512(v, nibble);
        hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
      } else {
        lo[r] = v;
      }
    }
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      const int8_t* t = xc[m] + i * X;
      constexpr int per_term = C / 2;
      if constexpr (BITS == 4) {
        // The coarse terms of the low and high nibbles, then the fine ones.
        const __m512i c_lo = _mm512_load_si512(t), c_hi = _mm512_load_si512(t + 64);
        const __m512i f_lo = _mm512_load_si512(t + 128), f_hi = _mm512_load_si512(t + 192);
        for (int r = 0; r < kTileRows; ++r) {
          a[r][m][0] = _mm512_dpbusd_epi32(a[r][m][0], lo[r], c_lo);
          a[r][m][per_term - 1] = _mm512_dpbusd_epi32(a[r][m][per_term - 1], hi[r], c_hi);
          a[r][m][per_term] = _mm512_dpbusd_epi32(a[r][m][per_term], lo[r], f_lo);
          a[r][m][C - 1] = _mm512_dpbusd_epi32(a[r][m][C - 1], hi[r], f_hi);
        }
      } else {
        const __m512i coarse = _mm512_load_si512(t), fine = _mm512_load_si512(t + 64);
        const int k = i % per_term;
        for (int r = 0; r < kTileRows; ++r) {
          a[r][m][k] = _mm512_dpbusd_epi32(a[r][m][k], lo[r], coarse);
          a[r][m][per_term + k] = _mm512_dpbusd_epi32(a[r][m][per_term + k], lo[r], fine);
        }
      }
    }
  }
}

// A block's int32 sums as one int32 per lane: coarse + fine / kFineSteps in units of dx.
template <int C>
TESSERA_DECODE_TARGET inline __m512i block_sum(const __m512i (&a)[C]) {
  if constexpr (C == 2) return _mm512_add_epi32(_mm512_slli_epi32(a[0], kFineShift), a[1]);
  const __m512i coarse = _mm512_add_epi32(a[0], a[1]), fine = _mm512_add_epi32(a[2], a[3]);
  return _mm512_add_epi32(_mm512_slli_epi32(coarse, kFineShift), fine);
}

// Rows of x that one sweep over a block multiplies: their int32 sums for both weight rows stay
// in registers. More rows take several sweeps over the block, its weights then in L1.
constexpr int kSweepRows = 4;

// Adds one block of 32 elements (its first chunk `chunk`, its scales of x at x.dx + dx_at within
// each row) for rows [m0, m0 + MR) of x to their float sums acc.
template <int BITS, int MR>
TESSERA_DECODE_TARGET inline void sweep(const std::byte* c, const PreparedX& x, int64_t m0, int64_t chunk, int64_t dx_at,
                               bool prefetch, const __m512 (&S)[kTileRows], __m512 (*acc)[kTileRows]) {
  constexpr int C = kChains<kTileRows * MR>;
  const int8_t* xc[MR];
  for (int m = 0; m < MR; ++m) xc[m] = x.terms + (m0 + m) * x.term_stride + chunk * kChunkTermBytes<BITS>;
  __m512i a[kTileRows][MR][C];
  for (auto& row : a)
    for (auto& pair : row)
      for (auto& v : pair) v = _mm512_setzero_si512();
  block_dots<BITS, MR>(c, xc, prefetch, a);
  for (int m = 0; m < MR; ++m) {
    const __m512 dx = _mm512_loadu_ps(x.dx + (m0 + m) * x.dx_stride + dx_at);
    for (int r = 0; r < kTileRows; ++r)
      acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_sum<C>(a[r][m])), _mm512_mul_ps(S[r], dx), acc[m][r]);
  }
}

using Rows = PassRows<PreparedX>;

// y of the tile at p (weight rows n, n + 1) for MR rows of x. Every (weight row, x row) pair is
// computed by the same operations in the same order whatever MR: a row of a batch gets exactly
// the product of that row alone.
template <int BITS, int MR>
TESSERA_DECODE_TARGET void tile(const Geometry& geo, ScaleType st, int64_t gs, const std::byte* p, int64_t n,
                       const Rows& rows) {
  const PreparedX& x = *rows.x;
  const int64_t blocks = gs / kBlock, params = scale_size(st) * kStepGroups;
  __m512 acc[MR][kTileRows];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  for (int64_t s = 0; s < geo.steps; ++s, p += geo.step_bytes) {
    for (int64_t o = 0; o < kTileRows * geo.param_bytes; o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + o + kPrefetchBytes), _MM_HINT_T0);
    __m512 S[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      const std::byte* pr = p + r * geo.param_bytes;
      S[r] = load_params(pr, st);
      const __m512 B = load_params(pr + params, st);
      for (int m = 0; m < MR; ++m)
        acc[m][r] = _mm512_fmadd_ps(B, _mm512_loadu_ps(x.sums + (rows.m0 + m) * x.sums_stride + s * kStepGroups),
                                    acc[m][r]);
    }
    const std::byte* c = p + kTileRows * geo.param_bytes;
    for (int64_t b = 0; b < blocks; ++b, c += BITS * kTileRows * 64) {
      const int64_t chunk = s * geo.chunks + b * BITS, dx_at = (s * blocks + b) * kStepGroups;
      constexpr int first = MR < kSweepRows ? MR : kSweepRows;
      sweep<BITS, first>(c, x, rows.m0, chunk, dx_at, true, S, acc);
      if constexpr (MR > kSweepRows)
        sweep<BITS, MR - kSweepRows>(c, x, rows.m0 + kSweepRows, chunk, dx_at, false, S, acc + kSweepRows);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int r = 0; r < kTileRows; ++r) rows.y[(rows.m0 + m) * rows.N + n + r] = _mm512_reduce_add_ps(acc[m][r]);
}

template <int BITS>
void run(const float* x, int64_t M, const Target* targets, int64_t count) {
  const QuantizedMatrix& w = *targets[0].w;
  const Geometry geo(w);
  const PreparedX px = prepare_x<BITS>(x, M, w, geo);
  for_each_pass(M, [&](auto rows, int64_t m0) {
    constexpr int MR = decltype(rows)::value;
    static_assert(MR <= 2 * kSweepRows);
    auto pass = [&](int64_t i) { return Rows(&px, m0, targets[i]); };
    stream_tiles(
        geo, targets, count, false,
        [&](int64_t i, int64_t t) {
          tile<BITS, MR>(geo, w.scale_type, w.group_size, targets[i].layout + t * geo.tile_bytes, t * kTileRows,
                         pass(i));
        },
        [](int64_t, int64_t, int64_t) {}, [&](int64_t i, int64_t t0, int64_t t1) { finish_tiles(pass(i), MR, t0, t1); });
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

int64_t max_rows(const QuantizedMatrix& w, XForm form) {
  if (form == XForm::int8) return std::numeric_limits<int64_t>::max();
  return w.bits == 4 && form == XForm::bf16 && bf16_form() ? 32 : 16;
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

bool same_geometry(const QuantizedMatrix& a, const QuantizedMatrix& b) {
  return a.cols == b.cols && a.bits == b.bits && a.group_size == b.group_size && a.scale_type == b.scale_type;
}

void gemv(Input x, int64_t M, const QuantizedMatrix& w, const std::byte* layout, float* y, XForm form,
          uint16_t* y_bf16) {
  const Target target{&w, layout, y, y_bf16};
  gemv_many(x, M, &target, 1, form);
}

void gemv_many(Input x, int64_t M, const Target* targets, int64_t count, XForm form) {
  if (M <= 0 || count <= 0) return;
  for (int64_t i = 1; i < count; ++i) {
    if (!same_geometry(*targets[0].w, *targets[i].w)) {
      throw std::invalid_argument("[qdecode::gemv_many] Matrices of different geometries.");
    }
  }
  const int bits = targets[0].w->bits;
  if (form == XForm::int8) return gemv_int8(x, M, targets, count);
  if (bits == 4 && form == XForm::bf16 && bf16_form()) return gemv_bf16(x.f32, M, targets, count);
  if (bits == 4) return run<4>(x.f32, M, targets, count);
  run<8>(x.f32, M, targets, count);
}

namespace detail {

void* scratch(size_t bytes) {
  thread_local std::unique_ptr<void, decltype(&std::free)> buffer{nullptr, &std::free};
  thread_local size_t capacity = 0;
  if (capacity < bytes) {
    capacity = 0;
    buffer.reset(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!buffer) throw std::bad_alloc();
    capacity = bytes;
  }
  return buffer.get();
}

}  // namespace detail

}  // namespace tessera::cpu::qdecode
