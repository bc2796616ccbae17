#include "tessera/dtype.h"

#include <stdexcept>

namespace tessera {

size_t size_of(Dtype d) {
  switch (d.val) {
    case Dtype::Val::bool_:
    case Dtype::Val::uint8:
    case Dtype::Val::int8:
      return 1;
    case Dtype::Val::float16:
    case Dtype::Val::bfloat16:
      return 2;
    case Dtype::Val::uint32:
    case Dtype::Val::int32:
    case Dtype::Val::float32:
      return 4;
    case Dtype::Val::int64:
      return 8;
  }
  return 0;
}

std::string to_string(Dtype d) {
  switch (d.val) {
    case Dtype::Val::bool_: return "bool";
    case Dtype::Val::uint8: return "uint8";
    case Dtype::Val::uint32: return "uint32";
    case Dtype::Val::int8: return "int8";
    case Dtype::Val::int32: return "int32";
    case Dtype::Val::int64: return "int64";
    case Dtype::Val::float16: return "float16";
    case Dtype::Val::bfloat16: return "bfloat16";
    case Dtype::Val::float32: return "float32";
  }
  return "unknown";
}

Dtype dtype_from_string(const std::string& name) {
  static const std::pair<const char*, Dtype> names[] = {
      {"bool", bool_},      {"bool_", bool_},        {"uint8", uint8},       {"u8", uint8},
      {"uint32", uint32},   {"u32", uint32},         {"int8", int8},         {"i8", int8},
      {"int32", int32},     {"i32", int32},          {"int64", int64},       {"i64", int64},
      {"float16", float16}, {"f16", float16},        {"half", float16},      {"bfloat16", bfloat16},
      {"bf16", bfloat16},   {"float32", float32},    {"f32", float32},       {"float", float32}};
  for (const auto& [n, d] : names) {
    if (name == n) return d;
  }
  throw std::invalid_argument("[dtype] Unknown dtype '" + name + "'.");
}

bool is_floating_point(Dtype d) { return d == float16 || d == bfloat16 || d == float32; }

bool is_integral(Dtype d) { return d == uint8 || d == uint32 || d == int8 || d == int32 || d == int64; }

bool is_unsigned(Dtype d) { return d == uint8 || d == uint32 || d == bool_; }

Dtype promote_types(Dtype a, Dtype b) {
  if (a == b) return a;
  // MLX's table: the smallest type that holds both; f16 with bf16 goes to f32; an unsigned with a
  // signed type of the same or smaller width goes to the next wider signed type.
  using V = Dtype::Val;
  constexpr int n = 9;
  static const V table[n][n] = {
      //        bool      u8        u32       i8        i32       i64       f16         bf16        f32
      /*bool*/ {V::bool_, V::uint8, V::uint32, V::int8, V::int32, V::int64, V::float16, V::bfloat16, V::float32},
      /*u8*/   {V::uint8, V::uint8, V::uint32, V::int32, V::int32, V::int64, V::float16, V::bfloat16, V::float32},
      /*u32*/  {V::uint32, V::uint32, V::uint32, V::int64, V::int64, V::int64, V::float16, V::bfloat16, V::float32},
      /*i8*/   {V::int8, V::int32, V::int64, V::int8, V::int32, V::int64, V::float16, V::bfloat16, V::float32},
      /*i32*/  {V::int32, V::int32, V::int64, V::int32, V::int32, V::int64, V::float16, V::bfloat16, V::float32},
      /*i64*/  {V::int64, V::int64, V::int64, V::int64, V::int64, V::int64, V::float16, V::bfloat16, V::float32},
      /*f16*/  {V::float16, V::float16, V::float16, V::float16, V::float16, V::float16, V::float16, V::float32, V::float32},
      /*bf16*/ {V::bfloat16, V::bfloat16, V::bfloat16, V::bfloat16, V::bfloat16, V::bfloat16, V::float32, V::bfloat16, V::float32},
      /*f32*/  {V::float32, V::float32, V::float32, V::float32, V::float32, V::float32, V::float32, V::float32, V::float32},
  };
  return Dtype(table[static_cast<int>(a.val)][static_cast<int>(b.val)]);
}

}  // namespace tessera
