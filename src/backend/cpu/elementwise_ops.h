// The scalar math behind each elementwise op, applied in the compute type (float for the 16-bit
// floats). Integer division and remainder follow Python (floor) semantics and never trap.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "core/primitives/elementwise.h"

namespace tessera::cpu {

// Inverse error function: Giles' single-precision approximation, refined by one Newton step.
inline float erfinv_f(float x) {
  if (x <= -1.0f) return x == -1.0f ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  if (x >= 1.0f) return x == 1.0f ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  float w = -std::log((1.0f - x) * (1.0f + x));
  float p;
  if (w < 5.0f) {
    w -= 2.5f;
    p = 2.81022636e-08f;
    p = 3.43273939e-07f + p * w;
    p = -3.5233877e-06f + p * w;
    p = -4.39150654e-06f + p * w;
    p = 0.00021858087f + p * w;
    p = -0.00125372503f + p * w;
    p = -0.00417768164f + p * w;
    p = 0.246640727f + p * w;
    p = 1.50140941f + p * w;
  } else {
    w = std::sqrt(w) - 3.0f;
    p = -0.000200214257f;
    p = 0.000100950558f + p * w;
    p = 0.00134934322f + p * w;
    p = -0.00367342844f + p * w;
    p = 0.00573950773f + p * w;
    p = -0.0076224613f + p * w;
    p = 0.00943887047f + p * w;
    p = 1.00167406f + p * w;
    p = 2.83297682f + p * w;
  }
  double y = static_cast<double>(p) * x;
  // One Newton step on erf(y) - x, in double, to reach full float accuracy.
  double err = std::erf(y) - x;
  y -= err / (1.1283791670955126 * std::exp(-y * y));
  return static_cast<float>(y);
}

template <UnaryOp op, typename C>
inline auto unary_apply(C x) {
  constexpr bool is_float = std::is_floating_point_v<C>;
  if constexpr (op == UnaryOp::abs) {
    if constexpr (std::is_unsigned_v<C> || std::is_same_v<C, bool>) return x;
    else return static_cast<C>(x < 0 ? -x : x);
  } else if constexpr (op == UnaryOp::negative) {
    return static_cast<C>(-x);
  } else if constexpr (op == UnaryOp::sign) {
    if constexpr (std::is_same_v<C, bool>) return x;
    else if constexpr (std::is_unsigned_v<C>) return static_cast<C>(x > 0);
    else if constexpr (is_float) return x != x ? x : static_cast<C>((x > 0) - (x < 0));
    else return static_cast<C>((x > 0) - (x < 0));
  } else if constexpr (op == UnaryOp::square) {
    return static_cast<C>(x * x);
  } else if constexpr (op == UnaryOp::floor) {
    if constexpr (is_float) return std::floor(x);
    else return x;
  } else if constexpr (op == UnaryOp::ceil) {
    if constexpr (is_float) return std::ceil(x);
    else return x;
  } else if constexpr (op == UnaryOp::round) {
    if constexpr (is_float) return std::nearbyint(x);  // default rounding mode: half to even
    else return x;
  } else if constexpr (op == UnaryOp::logical_not) {
    return !static_cast<bool>(x);
  } else if constexpr (op == UnaryOp::isnan) {
    if constexpr (is_float) return x != x;
    else return false;
  } else if constexpr (op == UnaryOp::isinf) {
    if constexpr (is_float) return std::isinf(x);
    else return false;
  } else if constexpr (op == UnaryOp::isfinite) {
    if constexpr (is_float) return std::isfinite(x);
    else return true;
  } else if constexpr (!is_float) {
    return x;  // the float-only ops below are never dispatched on integers
  } else if constexpr (op == UnaryOp::exp) {
    return std::exp(x);
  } else if constexpr (op == UnaryOp::expm1) {
    return std::expm1(x);
  } else if constexpr (op == UnaryOp::log) {
    return std::log(x);
  } else if constexpr (op == UnaryOp::log1p) {
    return std::log1p(x);
  } else if constexpr (op == UnaryOp::log2) {
    return std::log2(x);
  } else if constexpr (op == UnaryOp::log10) {
    return std::log10(x);
  } else if constexpr (op == UnaryOp::sqrt) {
    return std::sqrt(x);
  } else if constexpr (op == UnaryOp::rsqrt) {
    return C(1) / std::sqrt(x);
  } else if constexpr (op == UnaryOp::reciprocal) {
    return C(1) / x;
  } else if constexpr (op == UnaryOp::sin) {
    return std::sin(x);
  } else if constexpr (op == UnaryOp::cos) {
    return std::cos(x);
  } else if constexpr (op == UnaryOp::tan) {
    return std::tan(x);
  } else if constexpr (op == UnaryOp::tanh) {
    return std::tanh(x);
  } else if constexpr (op == UnaryOp::sigmoid) {
    return C(1) / (C(1) + std::exp(-x));
  } else if constexpr (op == UnaryOp::erf) {
    return std::erf(x);
  } else {
    static_assert(op == UnaryOp::erfinv);
    return erfinv_f(x);
  }
}

template <typename C>
inline C int_floor_divide(C a, C b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<C>) {
    if (b == -1) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(a));
    C q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return a / b;
  }
}

template <typename C>
inline C int_remainder(C a, C b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<C>) {
    if (b == -1) return 0;
    C r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    return a % b;
  }
}

template <typename C>
inline C int_power(C base, C exp) {
  if constexpr (std::is_signed_v<C>) {
    if (exp < 0) return base == 1 ? 1 : (base == -1 ? ((exp & 1) ? -1 : 1) : 0);
  }
  using U = std::make_unsigned_t<std::conditional_t<std::is_same_v<C, bool>, uint8_t, C>>;
  U result = 1, b = static_cast<U>(base);
  auto e = exp;
  while (e) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<C>(result);
}

template <BinaryOp op, typename C>
inline auto binary_apply(C a, C b) {
  constexpr bool is_float = std::is_floating_point_v<C>;
  if constexpr (op == BinaryOp::add) {
    return static_cast<C>(a + b);
  } else if constexpr (op == BinaryOp::subtract) {
    return static_cast<C>(a - b);
  } else if constexpr (op == BinaryOp::multiply) {
    return static_cast<C>(a * b);
  } else if constexpr (op == BinaryOp::divide) {
    if constexpr (is_float) return a / b;
    else return int_floor_divide(a, b);
  } else if constexpr (op == BinaryOp::power) {
    if constexpr (is_float) return std::pow(a, b);
    else if constexpr (std::is_same_v<C, bool>) return static_cast<bool>(a || !b);
    else return int_power(a, b);
  } else if constexpr (op == BinaryOp::maximum) {
    if constexpr (is_float) return (a > b || a != a) ? a : b;
    else return a > b ? a : b;
  } else if constexpr (op == BinaryOp::minimum) {
    if constexpr (is_float) return (a < b || a != a) ? a : b;
    else return a < b ? a : b;
  } else if constexpr (op == BinaryOp::floor_divide) {
    if constexpr (is_float) return std::floor(a / b);
    else if constexpr (std::is_same_v<C, bool>) return a;
    else return int_floor_divide(a, b);
  } else if constexpr (op == BinaryOp::remainder) {
    if constexpr (is_float) {
      C r = std::fmod(a, b);
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else if constexpr (std::is_same_v<C, bool>) {
      return false;
    } else {
      return int_remainder(a, b);
    }
  } else if constexpr (op == BinaryOp::logaddexp) {
    if constexpr (is_float) {
      C hi = a > b ? a : b;
      C lo = a > b ? b : a;
      if (hi == -std::numeric_limits<C>::infinity()) return hi;
      return hi + std::log1p(std::exp(lo - hi));
    } else {
      return a > b ? a : b;
    }
  } else if constexpr (op == BinaryOp::arctan2) {
    if constexpr (is_float) return std::atan2(a, b);
    else return a;
  } else if constexpr (op == BinaryOp::equal) {
    return a == b;
  } else if constexpr (op == BinaryOp::not_equal) {
    return a != b;
  } else if constexpr (op == BinaryOp::less) {
    return a < b;
  } else if constexpr (op == BinaryOp::less_equal) {
    return a <= b;
  } else if constexpr (op == BinaryOp::greater) {
    return a > b;
  } else if constexpr (op == BinaryOp::greater_equal) {
    return a >= b;
  } else if constexpr (op == BinaryOp::logical_and) {
    return static_cast<bool>(a) && static_cast<bool>(b);
  } else {
    static_assert(op == BinaryOp::logical_or);
    return static_cast<bool>(a) || static_cast<bool>(b);
  }
}

}  // namespace tessera::cpu
