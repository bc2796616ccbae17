#include "backend/cpu/vector_math.h"

#include <cmath>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backend/cpu/vector_math.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

HWY_BEFORE_NAMESPACE();
namespace tessera::cpu::HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;

// Highway's Exp is valid up to 104; beyond ~88.7 the float result is inf anyway.
HWY_INLINE V ExpFull(D d, V x) {
  V clamped = hn::Min(x, hn::Set(d, 100.0f));
  V r = hn::Exp(d, clamped);
  return hn::IfThenElse(hn::Eq(x, x), r, x);  // NaN stays NaN
}

template <typename VecFn, typename ScalarFn>
HWY_INLINE void apply(const float* x, float* y, int64_t n, VecFn vf, ScalarFn sf) {
  const D d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(vf(d, hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] = sf(x[i]);
}

void ExpImpl(const float* x, float* y, int64_t n) {
  apply(x, y, n, [](D d, V v) { return ExpFull(d, v); }, [](float v) { return std::exp(v); });
}

void LogImpl(const float* x, float* y, int64_t n) {
  apply(
      x, y, n,
      [](D d, V v) {
        const V zero = hn::Zero(d);
        const V inf = hn::Set(d, std::numeric_limits<float>::infinity());
        V r = hn::Log(d, v);
        r = hn::IfThenElse(hn::Eq(v, zero), hn::Neg(inf), r);
        r = hn::IfThenElse(hn::Eq(v, inf), inf, r);
        // Negative inputs and NaN give NaN.
        return hn::IfThenElse(hn::Not(hn::Ge(v, zero)), hn::Set(d, std::numeric_limits<float>::quiet_NaN()), r);
      },
      [](float v) { return std::log(v); });
}

void TanhImpl(const float* x, float* y, int64_t n) {
  apply(
      x, y, n, [](D d, V v) { return hn::IfThenElse(hn::Eq(v, v), hn::Tanh(d, v), v); },
      [](float v) { return std::tanh(v); });
}

void SigmoidImpl(const float* x, float* y, int64_t n) {
  apply(
      x, y, n,
      [](D d, V v) {
        const V one = hn::Set(d, 1.0f);
        return hn::Div(one, hn::Add(one, ExpFull(d, hn::Neg(v))));
      },
      [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
}

}  // namespace tessera::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tessera::cpu {

HWY_EXPORT(ExpImpl);
HWY_EXPORT(LogImpl);
HWY_EXPORT(TanhImpl);
HWY_EXPORT(SigmoidImpl);

void vector_exp(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(ExpImpl)(x, y, n); }
void vector_log(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(LogImpl)(x, y, n); }
void vector_tanh(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(TanhImpl)(x, y, n); }
void vector_sigmoid(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(SigmoidImpl)(x, y, n); }

}  // namespace tessera::cpu
#endif
