// Kernel-side dispatch over subsets of the dtypes, on top of the core's dispatch_dtype.
#pragma once

#include <stdexcept>
#include <utility>

#include "core/dtype_dispatch.h"
#include "tessera/dtype.h"

namespace tessera::cpu {

using tessera::TypeTag;

// Calls f(TypeTag<T>{}) for every dtype.
template <typename F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
  return dispatch_dtype(d, std::forward<F>(f));
}

template <typename F>
decltype(auto) dispatch_float(Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::float32: return f(TypeTag<float>{});
    case Dtype::Val::bfloat16: return f(TypeTag<bfloat16_t>{});
    case Dtype::Val::float16: return f(TypeTag<float16_t>{});
    default: throw std::invalid_argument("[cpu] Expected a floating-point dtype, got " + to_string(d) + ".");
  }
}

template <typename F>
decltype(auto) dispatch_integer(Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::bool_: return f(TypeTag<bool>{});
    case Dtype::Val::uint8: return f(TypeTag<uint8_t>{});
    case Dtype::Val::uint32: return f(TypeTag<uint32_t>{});
    case Dtype::Val::int8: return f(TypeTag<int8_t>{});
    case Dtype::Val::int32: return f(TypeTag<int32_t>{});
    case Dtype::Val::int64: return f(TypeTag<int64_t>{});
    default: throw std::invalid_argument("[cpu] Expected an integer dtype, got " + to_string(d) + ".");
  }
}

}  // namespace tessera::cpu
