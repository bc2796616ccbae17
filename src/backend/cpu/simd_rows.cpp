#include "backend/cpu/simd_rows.h"
#include "tessera/half.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/simd_rows.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>
#include <limits>
#include <type_traits>

HWY_BEFORE_NAMESPACE();
namespace tessera::cpu::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;

float DotImpl(const float* a, const float* b, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  auto acc0 = hn::Zero(d);
  auto acc1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), acc0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float SumImpl(const float* x, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) acc = hn::Add(acc, hn::LoadU(d, x + i));
  float s = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) s += x[i];
  return s;
}

float SumSquaresImpl(const float* x, int64_t n) { return DotImpl(x, x, n); }

float MaxImpl(const float* x, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  auto acc = hn::Set(d, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  bool nan = false;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(d, x + i);
    nan |= !hn::AllFalse(d, hn::IsNaN(v));
    acc = hn::Max(acc, v);
  }
  float m = hn::GetLane(hn::MaxOfLanes(d, acc));
  for (; i < n; ++i) {
    nan |= std::isnan(x[i]);
    m = x[i] > m ? x[i] : m;
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

int64_t FindFirstImpl(const float* x, int64_t n, float value) {
  const D d;
  const int64_t N = hn::Lanes(d);
  const auto v = hn::Set(d, value);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto eq = hn::Eq(hn::LoadU(d, x + i), v);
    if (!hn::AllFalse(d, eq)) return i + static_cast<int64_t>(hn::FindKnownFirstTrue(d, eq));
  }
  for (; i < n; ++i)
    if (x[i] == value) return i;
  return n;
}

void AxpyImpl(float alpha, const float* x, float* y, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  const auto va = hn::Set(d, alpha);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void ScaleImpl(float* x, float s, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(vs, hn::LoadU(d, x + i)), d, x + i);
  for (; i < n; ++i) x[i] *= s;
}

float ExpShiftedImpl(const float* x, float shift, float* out, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, shift);
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vs));
    acc = hn::Add(acc, e);
    hn::StoreU(e, d, out + i);
  }
  float s = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) {
    out[i] = std::exp(x[i] - shift);
    s += out[i];
  }
  return s;
}

void ScaleWeightedImpl(const float* x, float s, const float* w, float* out, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  if (w) {
    for (; i + N <= n; i += N)
      hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vs), hn::LoadU(d, w + i)), d, out + i);
    for (; i < n; ++i) out[i] = x[i] * s * w[i];
  } else {
    for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vs), d, out + i);
    for (; i < n; ++i) out[i] = x[i] * s;
  }
}

void RotatePairsImpl(float* a, float* b, const float* cos, const float* sin, int64_t n) {
  const D d;
  const int64_t N = hn::Lanes(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto va = hn::LoadU(d, a + i), vb = hn::LoadU(d, b + i);
    const auto c = hn::LoadU(d, cos + i), s = hn::LoadU(d, sin + i);
    hn::StoreU(hn::NegMulAdd(vb, s, hn::Mul(va, c)), d, a + i);
    hn::StoreU(hn::MulAdd(va, s, hn::Mul(vb, c)), d, b + i);
  }
  for (; i < n; ++i) {
    const float x = a[i], y = b[i];
    a[i] = x * cos[i] - y * sin[i];
    b[i] = x * sin[i] + y * cos[i];
  }
}

// C rows [m, m + 8) at columns [n0, n0 + 2L): 16 accumulators, so that the FMAs of a step
// (two per cycle, four cycles each) never wait on each other, and 8 broadcasts and 2 loads per 16
// FMAs against 4 and 2 per 8 with four rows. A 1B model's pp512 on a 4096-token cache, where
// attention is these products: 194 -> 214 t/s.
void GemmNNRows8(int64_t m, int64_t n0, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc) {
  const D d;
  const int64_t L = hn::Lanes(d);
  using V = hn::Vec<D>;
  V c0[8], c1[8];
  for (int r = 0; r < 8; ++r) c0[r] = c1[r] = hn::Zero(d);
  const float* a = A + m * lda;
  for (int64_t k = 0; k < K; ++k) {
    const V b0 = hn::LoadU(d, B + k * ldb + n0), b1 = hn::LoadU(d, B + k * ldb + n0 + L);
    for (int r = 0; r < 8; ++r) {
      const V ar = hn::Set(d, a[r * lda + k]);
      c0[r] = hn::MulAdd(ar, b0, c0[r]);
      c1[r] = hn::MulAdd(ar, b1, c1[r]);
    }
  }
  const V va = hn::Set(d, alpha);
  for (int r = 0; r < 8; ++r) {
    hn::StoreU(hn::Mul(va, c0[r]), d, C + (m + r) * ldc + n0);
    hn::StoreU(hn::Mul(va, c1[r]), d, C + (m + r) * ldc + n0 + L);
  }
}

// Register-blocked outer-product kernel: 8 (then 4) rows of A times two vectors of B columns per
// step.
void GemmNNImpl(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                int64_t ldb, float* C, int64_t ldc) {
  const D d;
  const int64_t L = hn::Lanes(d);
  const auto va = hn::Set(d, alpha);
  for (int64_t n0 = 0; n0 < N; n0 += 2 * L) {
    int64_t m = 0;
    for (; m + 8 <= M; m += 8) GemmNNRows8(m, n0, K, alpha, A, lda, B, ldb, C, ldc);
    for (; m + 4 <= M; m += 4) {
      auto c00 = hn::Zero(d), c01 = hn::Zero(d), c10 = hn::Zero(d), c11 = hn::Zero(d);
      auto c20 = hn::Zero(d), c21 = hn::Zero(d), c30 = hn::Zero(d), c31 = hn::Zero(d);
      const float* a = A + m * lda;
      for (int64_t k = 0; k < K; ++k) {
        const auto b0 = hn::LoadU(d, B + k * ldb + n0), b1 = hn::LoadU(d, B + k * ldb + n0 + L);
        const auto a0 = hn::Set(d, a[k]), a1 = hn::Set(d, a[lda + k]);
        const auto a2 = hn::Set(d, a[2 * lda + k]), a3 = hn::Set(d, a[3 * lda + k]);
        c00 = hn::MulAdd(a0, b0, c00);
        c01 = hn::MulAdd(a0, b1, c01);
        c10 = hn::MulAdd(a1, b0, c10);
        c11 = hn::MulAdd(a1, b1, c11);
        c20 = hn::MulAdd(a2, b0, c20);
        c21 = hn::MulAdd(a2, b1, c21);
        c30 = hn::MulAdd(a3, b0, c30);
        c31 = hn::MulAdd(a3, b1, c31);
      }
      float* c = C + m * ldc + n0;
      hn::StoreU(hn::Mul(va, c00), d, c);
      hn::StoreU(hn::Mul(va, c01), d, c + L);
      hn::StoreU(hn::Mul(va, c10), d, c + ldc);
      hn::StoreU(hn::Mul(va, c11), d, c + ldc + L);
      hn::StoreU(hn::Mul(va, c20), d, c + 2 * ldc);
      hn::StoreU(hn::Mul(va, c21), d, c + 2 * ldc + L);
      hn::StoreU(hn::Mul(va, c30), d, c + 3 * ldc);
      hn::StoreU(hn::Mul(va, c31), d, c + 3 * ldc + L);
    }
    for (; m < M; ++m) {
      auto c0 = hn::Zero(d), c1 = hn::Zero(d);
      const float* a = A + m * lda;
      for (int64_t k = 0; k < K; ++k) {
        const auto ak = hn::Set(d, a[k]);
        c0 = hn::MulAdd(ak, hn::LoadU(d, B + k * ldb + n0), c0);
        c1 = hn::MulAdd(ak, hn::LoadU(d, B + k * ldb + n0 + L), c1);
      }
      hn::StoreU(hn::Mul(va, c0), d, C + m * ldc + n0);
      hn::StoreU(hn::Mul(va, c1), d, C + m * ldc + n0 + L);
    }
  }
}

// Loads Lanes(d) floats from float32, bf16 or f16 storage.
template <class DF, typename T>
HWY_INLINE hn::Vec<DF> LoadAsF32(DF d, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(d, p);
  } else {
    const hn::Rebind<T, DF> dh;
    return hn::PromoteTo(d, hn::LoadU(dh, p));
  }
}

template <typename T>
HWY_INLINE float ToF32(T x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else if constexpr (std::is_same_v<T, hwy::bfloat16_t>) return tessera::detail::bf16_bits_to_float(x.bits);
  else return tessera::detail::f16_bits_to_float(x.bits);
}

template <class DF, typename T>
void DotRowsWith(DF d, const float* q, const T* rows, int64_t ld, int64_t n, int64_t d_len, float* out) {
  const int64_t N = hn::Lanes(d);
  for (int64_t j = 0; j < n; ++j) {
    const T* r = rows + j * ld;
    auto acc0 = hn::Zero(d);
    auto acc1 = hn::Zero(d);
    int64_t i = 0;
    for (; i + 2 * N <= d_len; i += 2 * N) {
      acc0 = hn::MulAdd(hn::LoadU(d, q + i), LoadAsF32(d, r + i), acc0);
      acc1 = hn::MulAdd(hn::LoadU(d, q + i + N), LoadAsF32(d, r + i + N), acc1);
    }
    for (; i + N <= d_len; i += N) acc0 = hn::MulAdd(hn::LoadU(d, q + i), LoadAsF32(d, r + i), acc0);
    float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
    for (; i < d_len; ++i) s += q[i] * ToF32(r[i]);
    out[j] = s;
  }
}

template <class DF, typename T>
void AxpyRowsWith(DF d, const float* p, const T* rows, int64_t ld, int64_t n, int64_t d_len, float* acc) {
  const int64_t N = hn::Lanes(d);
  for (int64_t j = 0; j < n; ++j) {
    if (p[j] == 0.0f) continue;
    const T* r = rows + j * ld;
    const auto vp = hn::Set(d, p[j]);
    int64_t i = 0;
    for (; i + N <= d_len; i += N) hn::StoreU(hn::MulAdd(vp, LoadAsF32(d, r + i), hn::LoadU(d, acc + i)), d, acc + i);
    for (; i < d_len; ++i) acc[i] += p[j] * ToF32(r[i]);
  }
}

// Small head sizes (tiny models) use narrower vectors instead of the scalar tail.
template <typename T>
void DotRows(const float* q, const T* rows, int64_t ld, int64_t n, int64_t d_len, float* out) {
  if (d_len >= static_cast<int64_t>(hn::Lanes(D()))) return DotRowsWith(D(), q, rows, ld, n, d_len, out);
  if (d_len >= 8) return DotRowsWith(hn::CappedTag<float, 8>(), q, rows, ld, n, d_len, out);
  return DotRowsWith(hn::CappedTag<float, 4>(), q, rows, ld, n, d_len, out);
}

template <typename T>
void AxpyRows(const float* p, const T* rows, int64_t ld, int64_t n, int64_t d_len, float* acc) {
  if (d_len >= static_cast<int64_t>(hn::Lanes(D()))) return AxpyRowsWith(D(), p, rows, ld, n, d_len, acc);
  if (d_len >= 8) return AxpyRowsWith(hn::CappedTag<float, 8>(), p, rows, ld, n, d_len, acc);
  return AxpyRowsWith(hn::CappedTag<float, 4>(), p, rows, ld, n, d_len, acc);
}

void DotRowsF32(const float* q, const float* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  DotRows(q, rows, ld, n, d, out);
}
void DotRowsBF16(const float* q, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  DotRows(q, reinterpret_cast<const hwy::bfloat16_t*>(rows), ld, n, d, out);
}
void DotRowsF16(const float* q, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  DotRows(q, reinterpret_cast<const hwy::float16_t*>(rows), ld, n, d, out);
}
void AxpyRowsF32(const float* p, const float* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  AxpyRows(p, rows, ld, n, d, acc);
}
void AxpyRowsBF16(const float* p, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  AxpyRows(p, reinterpret_cast<const hwy::bfloat16_t*>(rows), ld, n, d, acc);
}
void AxpyRowsF16(const float* p, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  AxpyRows(p, reinterpret_cast<const hwy::float16_t*>(rows), ld, n, d, acc);
}

}  // namespace tessera::cpu::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tessera::cpu::simd {

HWY_EXPORT(DotImpl);
HWY_EXPORT(SumImpl);
HWY_EXPORT(SumSquaresImpl);
HWY_EXPORT(MaxImpl);
HWY_EXPORT(FindFirstImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(ExpShiftedImpl);
HWY_EXPORT(ScaleWeightedImpl);
HWY_EXPORT(RotatePairsImpl);
HWY_EXPORT(GemmNNImpl);
HWY_EXPORT(DotRowsF32);
HWY_EXPORT(DotRowsBF16);
HWY_EXPORT(DotRowsF16);
HWY_EXPORT(AxpyRowsF32);
HWY_EXPORT(AxpyRowsBF16);
HWY_EXPORT(AxpyRowsF16);

float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n); }
float sum(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumImpl)(x, n); }
float sum_squares(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumSquaresImpl)(x, n); }
float max(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxImpl)(x, n); }
int64_t find_first(const float* x, int64_t n, float value) { return HWY_DYNAMIC_DISPATCH(FindFirstImpl)(x, n, value); }
void axpy(float alpha, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyImpl)(alpha, x, y, n); }
void scale(float* x, float s, int64_t n) { HWY_DYNAMIC_DISPATCH(ScaleImpl)(x, s, n); }
float exp_shifted(const float* x, float shift, float* out, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(ExpShiftedImpl)(x, shift, out, n);
}
void scale_weighted(const float* x, float s, const float* w, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ScaleWeightedImpl)(x, s, w, out, n);
}

void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc) {
  HWY_DYNAMIC_DISPATCH(GemmNNImpl)(M, N, K, alpha, A, lda, B, ldb, C, ldc);
}
void rotate_pairs(float* a, float* b, const float* cos, const float* sin, int64_t n) {
  HWY_DYNAMIC_DISPATCH(RotatePairsImpl)(a, b, cos, sin, n);
}
void dot_rows(const float* q, const float* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  HWY_DYNAMIC_DISPATCH(DotRowsF32)(q, rows, ld, n, d, out);
}
void dot_rows_bf16(const float* q, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  HWY_DYNAMIC_DISPATCH(DotRowsBF16)(q, rows, ld, n, d, out);
}
void dot_rows_f16(const float* q, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* out) {
  HWY_DYNAMIC_DISPATCH(DotRowsF16)(q, rows, ld, n, d, out);
}
void axpy_rows(const float* p, const float* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  HWY_DYNAMIC_DISPATCH(AxpyRowsF32)(p, rows, ld, n, d, acc);
}
void axpy_rows_bf16(const float* p, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  HWY_DYNAMIC_DISPATCH(AxpyRowsBF16)(p, rows, ld, n, d, acc);
}
void axpy_rows_f16(const float* p, const uint16_t* rows, int64_t ld, int64_t n, int64_t d, float* acc) {
  HWY_DYNAMIC_DISPATCH(AxpyRowsF16)(p, rows, ld, n, d, acc);
}

}  // namespace tessera::cpu::simd
#endif
