#include "backend/cpu/quantized_simd.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/quantized_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>

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

  template <class F>
  HWY_INLINE void unpack(const uint8_t* row, int64_t blk, const F& f) const {
    const DF df;
    const DU du;
    const DI di;
    const D8 d8;
    const auto v = hn::PromoteTo(du, hn::LoadU(d8, row + blk * lanes));
    const auto mask = hn::Set(du, (1u << BITS) - 1u);
    // The promoted lanes hold one byte: the first field needs no shift, the last no mask.
    f(0, hn::ConvertTo(df, hn::BitCast(di, kSub == 1 ? v : hn::And(v, mask))));
    for (int k = 1; k < kSub; ++k) {
      auto q = hn::ShiftRightSame(v, k * BITS);
      if (k + 1 < kSub) q = hn::And(q, mask);
      f(k, hn::ConvertTo(df, hn::BitCast(di, q)));
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

  template <class F>
  HWY_INLINE void unpack(const uint8_t* row, int64_t blk, const F& f) const {
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
    f(0, hn::ConvertTo(df, hn::BitCast(di, hn::And(v, mask))));
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

void UnpermuteImpl(const float* x, int64_t K, int bits, float* out) {
  with_unpacker(bits, K, [&](const auto& u) {
    const int64_t B = u.block_elems();
    const int64_t full = K / B * B;
    for (int64_t b0 = 0; b0 < full; b0 += B)
      for (int64_t p = 0; p < B; ++p) out[b0 + u.element_of(p)] = x[b0 + p];
    std::copy(x + full, x + K, out + full);
  });
}

// Fills lanes with the scale (or bias) of the group each lane's elements belong to, for a
// block that spans several groups.
template <class U>
HWY_INLINE VF lane_params(const U& u, const void* params, ScaleType t, int64_t group_base,
                          int64_t b0, int group_size) {
  alignas(64) float tmp[kMaxLanes] = {};
  for (int64_t j = 0; j < u.lanes; ++j)
    tmp[j] = load_scale(params, t, group_base + (b0 + j * U::kSub) / group_size);
  return hn::Load(DF(), tmp);
}

void DequantizeRowsPermutedImpl(const QuantizedMatrix& w, int64_t r0, int64_t r1, float* out) {
  const DF df;
  const int64_t K = w.cols;
  const int64_t G = w.groups_per_row();
  const int64_t row_bytes = K * w.bits / 8;
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed);
  with_unpacker(w.bits, K, [&](const auto& u) {
    const int64_t B = u.block_elems();
    const int64_t N = u.lanes;
    const int64_t nblocks = K / B;
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = bytes + r * row_bytes;
      float* o = out + (r - r0) * K;
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        VF s, b;
        if (B <= w.group_size) {
          const int64_t g = r * G + blk * B / w.group_size;
          s = hn::Set(df, load_scale(w.scales, w.scale_type, g));
          b = hn::Set(df, load_scale(w.biases, w.scale_type, g));
        } else {
          s = lane_params(u, w.scales, w.scale_type, r * G, blk * B, w.group_size);
          b = lane_params(u, w.biases, w.scale_type, r * G, blk * B, w.group_size);
        }
        u.unpack(row, blk, [&](int k, VF q) { hn::StoreU(hn::MulAdd(q, s, b), df, o + blk * B + k * N); });
      }
      for (int64_t i = nblocks * B; i < K; ++i) {
        const int64_t g = r * G + i / w.group_size;
        o[i] = static_cast<float>(extract_bits(row, i, w.bits)) * load_scale(w.scales, w.scale_type, g) +
               load_scale(w.biases, w.scale_type, g);
      }
    }
  });
}

// One pass over the rows [n0, n1) of w for MR rows of x: every packed block is unpacked once
// and multiplied into all MR rows. Per group, sum_i x_i (s q_i + b) = s * (x . q) + b * sum(x).
template <int MR, class U>
void GemvPass(const U& u, const float* xp, const float* xsums, const QuantizedMatrix& w, int64_t n0,
              int64_t n1, float* y, int64_t ldy) {
  const DF df;
  const int64_t K = w.cols;
  const int64_t G = w.groups_per_row();
  const int gs = w.group_size;
  const int64_t B = u.block_elems();
  const int64_t N = u.lanes;
  const int64_t nblocks = K / B;
  const int64_t row_bytes = K * w.bits / 8;
  const auto* bytes = reinterpret_cast<const uint8_t*>(w.packed);
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = bytes + n * row_bytes;
    VF acc[MR];
    float tail[MR];
    for (int m = 0; m < MR; ++m) {
      acc[m] = hn::Zero(df);
      tail[m] = 0.0f;
    }
    if (B <= gs) {
      const int64_t blocks_per_group = gs / B;
      for (int64_t g = 0; g < G; ++g) {
        VF gacc[MR];
        for (int m = 0; m < MR; ++m) gacc[m] = hn::Zero(df);
        for (int64_t blk = g * blocks_per_group; blk < (g + 1) * blocks_per_group; ++blk) {
          const float* xb = xp + blk * B;
          u.unpack(row, blk, [&](int k, VF q) {
            for (int m = 0; m < MR; ++m) gacc[m] = hn::MulAdd(q, hn::LoadU(df, xb + m * K + k * N), gacc[m]);
          });
        }
        const auto s = hn::Set(df, load_scale(w.scales, w.scale_type, n * G + g));
        for (int m = 0; m < MR; ++m) acc[m] = hn::MulAdd(s, gacc[m], acc[m]);
      }
    } else {
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        const float* xb = xp + blk * B;
        VF bacc[MR];
        for (int m = 0; m < MR; ++m) bacc[m] = hn::Zero(df);
        u.unpack(row, blk, [&](int k, VF q) {
          for (int m = 0; m < MR; ++m) bacc[m] = hn::MulAdd(q, hn::LoadU(df, xb + m * K + k * N), bacc[m]);
        });
        const VF s = lane_params(u, w.scales, w.scale_type, n * G, blk * B, gs);
        for (int m = 0; m < MR; ++m) acc[m] = hn::MulAdd(s, bacc[m], acc[m]);
      }
      for (int64_t i = nblocks * B; i < K; ++i) {
        const float sq = static_cast<float>(extract_bits(row, i, w.bits)) *
                         load_scale(w.scales, w.scale_type, n * G + i / gs);
        for (int m = 0; m < MR; ++m) tail[m] += sq * xp[m * K + i];
      }
    }
    for (int m = 0; m < MR; ++m) {
      float bias_term = 0.0f;
      for (int64_t g = 0; g < G; ++g) bias_term += load_scale(w.biases, w.scale_type, n * G + g) * xsums[m * G + g];
      y[m * ldy + n] = hn::GetLane(hn::SumOfLanes(df, acc[m])) + tail[m] + bias_term;
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
HWY_EXPORT(UnpermuteImpl);
HWY_EXPORT(DequantizeRowsPermutedImpl);
HWY_EXPORT(GemvRowsImpl);

void permute(const float* x, int64_t K, int bits, float* out) {
  HWY_DYNAMIC_DISPATCH(PermuteImpl)(x, K, bits, out);
}
void unpermute(const float* x, int64_t K, int bits, float* out) {
  HWY_DYNAMIC_DISPATCH(UnpermuteImpl)(x, K, bits, out);
}
void dequantize_rows_permuted(const QuantizedMatrix& w, int64_t r0, int64_t r1, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantizeRowsPermutedImpl)(w, r0, r1, out);
}
void gemv_rows(const float* xp, const float* xsums, int64_t M, const QuantizedMatrix& w, int64_t n0,
               int64_t n1, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(GemvRowsImpl)(xp, xsums, M, w, n0, n1, y, ldy);
}

}  // namespace tessera::cpu::qsimd
#endif
