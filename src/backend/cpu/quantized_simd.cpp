#include "backend/cpu/quantized_simd.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/quantized_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>
#include <type_traits>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace tessera::cpu::qsimd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using D8 = hn::Rebind<uint8_t, DF>;
using VF = hn::Vec<DF>;

constexpr size_t kMaxLanes = HWY_LANES(float);

// Bits 2, 4 and 8: a block is N bytes (one per float lane); sub-vector k holds, in lane j, the
// element j * kSub + k, i.e. the bits [k * BITS, (k + 1) * BITS) of byte j.
template <int BITS>
struct Pow2Unpacker {
  static constexpr int kSub = 8 / BITS;
  int64_t lanes;
  int64_t block_elems() const { return kSub * lanes; }
  int64_t block_bytes() const { return lanes; }
  int64_t element_of(int64_t p) const { return (p % lanes) * kSub + p / lanes; }

  HWY_INLINE void unpack(const uint8_t* row, int64_t blk, VF* q) const {
    const DF df;
    const DU du;
    const DI di;
    const D8 d8;
    const auto v = hn::PromoteTo(du, hn::LoadU(d8, row + blk * lanes));
    const auto mask = hn::Set(du, (1u << BITS) - 1u);
    // The promoted lanes hold one byte: the first field needs no shift, the last no mask.
    q[0] = hn::ConvertTo(df, hn::BitCast(di, kSub == 1 ? v : hn::And(v, mask)));
    for (int k = 1; k < kSub; ++k) {
      auto field = hn::ShiftRightSame(v, k * BITS);
      if (k + 1 < kSub) field = hn::And(field, mask);
      q[k] = hn::ConvertTo(df, hn::BitCast(di, field));
    }
  }
};

// Bits 3, 5 and 6: a block is N consecutive elements in natural order, fetched with a gather
// of 32-bit words at each element's byte offset. The gather reads up to 3 bytes past an
// element, so blocks that end near the end of the row are unpacked one element at a time.
struct GenericUnpacker {
  static constexpr int kSub = 1;
  int64_t lanes;
  int bits;
  int64_t row_bytes;
  int64_t block_elems() const { return lanes; }
  int64_t element_of(int64_t p) const { return p; }

  HWY_INLINE void unpack(const uint8_t* row, int64_t blk, VF* q) const {
    const DF df;
    const DU du;
    const DI di;
    const auto mask = hn::Set(du, (1u << bits) - 1u);
    const int64_t first = blk * lanes;
    hn::Vec<DU> v;
    if (((first + lanes - 1) * bits >> 3) + 4 <= row_bytes) {
      const auto bit = hn::Add(hn::Set(di, static_cast<int32_t>(first * bits)),
                               hn::Mul(hn::Iota(di, 0), hn::Set(di, bits)));
      const auto offsets = hn::ShiftRight<3>(bit);
      const auto shifts = hn::BitCast(du, hn::And(bit, hn::Set(di, 7)));
      const auto* base = reinterpret_cast<const int32_t*>(row);
      v = hn::BitCast(du, hn::GatherOffset(di, base, offsets)) >> shifts;
    } else {
      alignas(64) uint32_t tmp[kMaxLanes] = {};
      for (int64_t j = 0; j < lanes; ++j) tmp[j] = extract_bits(row, first + j, bits);
      v = hn::Load(du, tmp);
    }
    q[0] = hn::ConvertTo(df, hn::BitCast(di, hn::And(v, mask)));
  }
};

template <class F>
HWY_INLINE void with_unpacker(int bits, int64_t cols, const F& f) {
  const int64_t lanes = hn::Lanes(DF());
  switch (bits) {
    case 2: return f(Pow2Unpacker<2>{lanes});
    case 4: return f(Pow2Unpacker<4>{lanes});
    case 8: return f(Pow2Unpacker<8>{lanes});
    default: return f(GenericUnpacker{lanes, bits, cols * bits / 8});
  }
}

void PermuteImpl(const float* x, int64_t K, int bits, float* out) {
  with_unpacker(bits, K, [&](const auto& u) {
    const int64_t B = u.block_elems();
    const int64_t full = K / B * B;
    for (int64_t b0 = 0; b0 < full; b0 += B)
      for (int64_t p = 0; p < B; ++p) out[b0 + p] = x[b0 + u.element_of(p)];
    std::copy(x + full, x + K, out + full);
  });
}

// The float32 scales (or biases) of groups [g0, g0 + count). A 16-bit float widens exactly:
// bf16 by a shift, f16 through the scalar conversion.
void load_params(const void* params, ScaleType t, int64_t g0, int64_t count, float* out) {
  switch (t) {
    case ScaleType::float32:
      std::copy_n(static_cast<const float*>(params) + g0, count, out);
      return;
    case ScaleType::bfloat16: {
      const DF df;
      const DU du;
      const hn::Rebind<uint16_t, DF> d16;
      const auto* src = static_cast<const uint16_t*>(params) + g0;
      const int64_t N = hn::Lanes(df);
      int64_t i = 0;
      for (; i + N <= count; i += N)
        hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, src + i)))), df, out + i);
      for (; i < count; ++i) out[i] = detail::bf16_bits_to_float(src[i]);
      return;
    }
    case ScaleType::float16:
      for (int64_t i = 0; i < count; ++i)
        out[i] = detail::f16_bits_to_float(static_cast<const uint16_t*>(params)[g0 + i]);
      return;
  }
}

float dot(const float* a, const float* b, int64_t n) {
  const DF df;
  const int64_t N = hn::Lanes(df);
  auto acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) acc = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc);
  float s = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// The per-group values of one row (params [groups]) broadcast to the lanes of the block that
// starts at element b0: one value when the block lies in one group, else each lane's group.
template <class U>
HWY_INLINE VF block_params(const U& u, const float* params, int64_t b0, int group_size) {
  if (u.block_elems() <= group_size) return hn::Set(DF(), params[b0 / group_size]);
  alignas(64) float tmp[kMaxLanes] = {};
  for (int64_t j = 0; j < u.lanes; ++j) tmp[j] = params[(b0 + j * U::kSub) / group_size];
  return hn::Load(DF(), tmp);
}

// One pass over the rows [n0, n1) of w for MR rows of x: every packed block is unpacked once,
// scaled, and multiplied into all MR rows; the biases contribute sum_g b_g * sum(x in group g).
// Each (row of x, sub-vector) pair accumulates in its own register (two for a single row of x),
// so the FMA latency never serializes the loop.
template <int MR, class U>
void GemvPass(const U& u, const float* xp, const float* xsums, const QuantizedMatrix& w, int64_t n0,
              int64_t n1, float* y, int64_t ldy) {
  constexpr int kSub = U::kSub;
  constexpr int kPar = MR == 1 ? 2 : 1;
  const DF df;
  const int64_t K = w.cols;
  const int64_t G = w.groups_per_row();
  const int gs = w.group_size;
  const int gs_shift = __builtin_ctz(static_cast<unsigned>(gs));
  const int64_t B = u.block_elems();
  const int64_t N = u.lanes;
  const int64_t nblocks = K / B;
  const int64_t row_bytes = K * w.bits / 8;
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed);
  std::vector<float> scales(G), biases(G);
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = bytes + n * row_bytes;
    load_params(w.scales, w.scale_type, n * G, G, scales.data());
    load_params(w.biases, w.scale_type, n * G, G, biases.data());
    VF acc[MR][kSub * kPar];
    for (int m = 0; m < MR; ++m)
      for (int a = 0; a < kSub * kPar; ++a) acc[m][a] = hn::Zero(df);
    int64_t blk = 0;
    if (B <= gs) {
      // Group of block b: (b * B) >> gs_shift (both powers of two; no division in the loop).
      for (; blk + kPar <= nblocks; blk += kPar) {
#pragma GCC unroll 2
        for (int p = 0; p < kPar; ++p) {
          const int64_t b = blk + p;
          const VF s = hn::Set(df, scales[(b * B) >> gs_shift]);
          VF q[kSub];
          u.unpack(row, b, q);
#pragma GCC unroll 4
          for (int k = 0; k < kSub; ++k) {
            const VF sq = hn::Mul(q[k], s);
#pragma GCC unroll 4
            for (int m = 0; m < MR; ++m)
              acc[m][k + kSub * p] = hn::MulAdd(sq, hn::LoadU(df, xp + b * B + m * K + k * N), acc[m][k + kSub * p]);
          }
        }
      }
    }
    for (; blk < nblocks; ++blk) {
      const VF s = block_params(u, scales.data(), blk * B, gs);
      VF q[kSub];
      u.unpack(row, blk, q);
      for (int k = 0; k < kSub; ++k)
        for (int m = 0; m < MR; ++m)
          acc[m][k] = hn::MulAdd(hn::Mul(q[k], s), hn::LoadU(df, xp + blk * B + m * K + k * N), acc[m][k]);
    }
    for (int m = 0; m < MR; ++m) {
      VF total = acc[m][0];
      for (int a = 1; a < kSub * kPar; ++a) total = hn::Add(total, acc[m][a]);
      float result = hn::GetLane(hn::SumOfLanes(df, total));
      for (int64_t i = nblocks * B; i < K; ++i) {
        result += static_cast<float>(extract_bits(row, i, w.bits)) * scales[i / gs] * xp[m * K + i];
      }
      result += dot(biases.data(), xsums + m * G, G);
      y[m * ldy + n] = result;
    }
  }
}

void GemvRowsImpl(const float* xp, const float* xsums, int64_t M, const QuantizedMatrix& w, int64_t n0,
                  int64_t n1, float* y, int64_t ldy) {
  const int64_t K = w.cols;
  const int64_t G = w.groups_per_row();
  with_unpacker(w.bits, K, [&](const auto& u) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) GemvPass<4>(u, xp + m * K, xsums + m * G, w, n0, n1, y + m * ldy, ldy);
    switch (M - m) {
      case 3: GemvPass<3>(u, xp + m * K, xsums + m * G, w, n0, n1, y + m * ldy, ldy); break;
      case 2: GemvPass<2>(u, xp + m * K, xsums + m * G, w, n0, n1, y + m * ldy, ldy); break;
      case 1: GemvPass<1>(u, xp + m * K, xsums + m * G, w, n0, n1, y + m * ldy, ldy); break;
      default: break;
    }
  });
}

}  // namespace tessera::cpu::qsimd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tessera::cpu::qsimd {

HWY_EXPORT(PermuteImpl);
HWY_EXPORT(GemvRowsImpl);

void permute(const float* x, int64_t K, int bits, float* out) {
  HWY_DYNAMIC_DISPATCH(PermuteImpl)(x, K, bits, out);
}
void gemv_rows(const float* xp, const float* xsums, int64_t M, const QuantizedMatrix& w, int64_t n0,
               int64_t n1, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(GemvRowsImpl)(xp, xsums, M, w, n0, n1, y, ldy);
}

}  // namespace tessera::cpu::qsimd
#endif
