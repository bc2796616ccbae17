// Element types and NumPy/MLX-style type promotion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/half.h"

namespace tessera {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;  // in elements

struct Dtype {
  enum class Val : uint8_t { bool_, uint8, uint32, int8, int32, int64, float16, bfloat16, float32 };
  Val val;
  constexpr explicit Dtype(Val v) : val(v) {}
  constexpr bool operator==(const Dtype& o) const { return val == o.val; }
  constexpr bool operator!=(const Dtype& o) const { return val != o.val; }
};

inline constexpr Dtype bool_{Dtype::Val::bool_};
inline constexpr Dtype uint8{Dtype::Val::uint8};
inline constexpr Dtype uint32{Dtype::Val::uint32};
inline constexpr Dtype int8{Dtype::Val::int8};
inline constexpr Dtype int32{Dtype::Val::int32};
inline constexpr Dtype int64{Dtype::Val::int64};
inline constexpr Dtype float16{Dtype::Val::float16};
inline constexpr Dtype bfloat16{Dtype::Val::bfloat16};
inline constexpr Dtype float32{Dtype::Val::float32};

size_t size_of(Dtype d);
std::string to_string(Dtype d);
// Accepts "float32", "bfloat16", "float16", "int32", ... and the short forms "f32", "bf16", "f16".
Dtype dtype_from_string(const std::string& name);
Dtype promote_types(Dtype a, Dtype b);
bool is_floating_point(Dtype d);
bool is_integral(Dtype d);  // integer types, excluding bool
bool is_unsigned(Dtype d);

template <typename T>
struct TypeToDtype;
template <> struct TypeToDtype<bool> { static constexpr Dtype value = bool_; };
template <> struct TypeToDtype<uint8_t> { static constexpr Dtype value = uint8; };
template <> struct TypeToDtype<uint32_t> { static constexpr Dtype value = uint32; };
template <> struct TypeToDtype<int8_t> { static constexpr Dtype value = int8; };
template <> struct TypeToDtype<int32_t> { static constexpr Dtype value = int32; };
template <> struct TypeToDtype<int64_t> { static constexpr Dtype value = int64; };
template <> struct TypeToDtype<float16_t> { static constexpr Dtype value = float16; };
template <> struct TypeToDtype<bfloat16_t> { static constexpr Dtype value = bfloat16; };
template <> struct TypeToDtype<float> { static constexpr Dtype value = float32; };

template <typename T>
inline constexpr Dtype dtype_of = TypeToDtype<T>::value;

}  // namespace tessera
