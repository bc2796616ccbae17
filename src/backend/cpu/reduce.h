// Reduction kernels over arbitrary axes of strided views.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/dtype.h"

namespace tessera::cpu {

enum class ReduceKind { sum, prod, max, min, all, any };

// Reduces the strided view (in, shape, strides; strides in elements of in_dtype) over `axes`
// (sorted, unique) into the contiguous `out`, laid out as the kept axes in order. The output
// dtype is reduce_output_dtype(kind, in_dtype). sum/prod accumulate floats in float32 and
// integers in int64; an empty reduction gives the identity (0, 1, true, false; max/min need a
// non-empty reduction, checked by the op).
void reduce(ReduceKind kind, Dtype in_dtype, const void* in, const std::vector<int64_t>& shape,
            const std::vector<int64_t>& strides, const std::vector<int>& axes, void* out);

// sum/prod of bool and 8-bit integers give int32; all/any give bool; the rest keep the dtype.
Dtype reduce_output_dtype(ReduceKind kind, Dtype in_dtype);

// Index (uint32) of the first maximum (or minimum) along `axis`; out is contiguous with the
// axis removed. NaN counts as the maximum and the minimum, as in NumPy.
void arg_reduce(bool is_max, Dtype dtype, const void* in, const std::vector<int64_t>& shape,
                const std::vector<int64_t>& strides, int axis, uint32_t* out);

}  // namespace tessera::cpu
