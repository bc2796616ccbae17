// Gather / scatter kernels on row-contiguous data.
//
// Out-of-range indices never read or write outside an array: negative indices count from the
// end; reads clamp a still-out-of-range index to the nearest valid position and writes drop
// it (the gather-clamps / scatter-drops convention of JAX and XLA).
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/dtype.h"

namespace tessera::cpu {

// out[o, i, :] = a[o, indices[i], :] for a [outer, axis_size, inner] and n indices.
void take_axis(Dtype dtype, const void* a, int64_t outer, int64_t axis_size, int64_t inner, Dtype index_dtype,
               const void* indices, int64_t n, void* out);

// out[o, i, j] = a[o, indices[o, i, j], j] for a [outer, axis_size, inner], indices [outer, n, inner].
void take_along_axis(Dtype dtype, const void* a, int64_t outer, int64_t axis_size, int64_t inner,
                     Dtype index_dtype, const void* indices, int64_t n, void* out);

// out[o, indices[o, i, j], j] = values[o, i, j] (or += with accumulate); out already holds a
// copy of the source.
void put_along_axis(Dtype dtype, void* out, int64_t outer, int64_t axis_size, int64_t inner, Dtype index_dtype,
                    const void* indices, int64_t n, const void* values, bool accumulate);

// For every index position p (the k index arrays are contiguous with n_index elements each),
// copies the block of `slice_sizes` starting at (indices[0][p] on axes[0], ...; 0 elsewhere)
// to out[p, ...].
void gather(Dtype dtype, const void* a, const std::vector<int64_t>& shape, const std::vector<const void*>& indices,
            Dtype index_dtype, int64_t n_index, const std::vector<int>& axes, const std::vector<int64_t>& slice_sizes,
            void* out);

// The adjoint of gather: out[block at p] += updates[p, ...]; out already holds a copy of the
// source. Blocks that would not fit are dropped.
void scatter_add(Dtype dtype, void* out, const std::vector<int64_t>& shape, const std::vector<const void*>& indices,
                 Dtype index_dtype, int64_t n_index, const std::vector<int>& axes,
                 const std::vector<int64_t>& slice_sizes, const void* updates);

}  // namespace tessera::cpu
