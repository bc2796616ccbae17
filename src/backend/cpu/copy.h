// CPU copies between layouts and dtypes.
#pragma once

#include "tessera/array.h"

namespace tessera::cpu {

// Gives out a row-contiguous buffer holding src's elements in row-major order (out may have any
// shape of the same size), converted to out's dtype.
void copy_to_contiguous(const array& src, array& out);

// Writes src, broadcast to `shape` through `src_strides`, into the strided region of dst's
// buffer that starts at element `dst_offset` (relative to dst's first element), converting to
// dst's dtype.
void copy_region(const array& src, const Strides& src_strides, array& dst, const Shape& shape,
                 const Strides& dst_strides, int64_t dst_offset);

// Sets the first n elements of dst's buffer to the scalar `value` converted to dst's dtype.
void fill(array& dst, const array& value, size_t n);

}  // namespace tessera::cpu
