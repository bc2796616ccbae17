// Shape, stride and axis helpers shared by the ops and kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/array.h"

namespace tessera {

int64_t shape_size(const Shape& shape);
// Standard row-major strides (in elements) for a shape.
Strides row_major_strides(const Shape& shape);
// Flags that describe how a view with these strides covers `data_size` elements.
array::Flags flags_for(const Shape& shape, const Strides& strides, size_t data_size);
// The number of buffer elements a view spans from its first element (0 for an empty view).
size_t span_of(const Shape& shape, const Strides& strides);

// Maps a possibly negative axis into [0, ndim); throws std::out_of_range naming `op`.
int normalize_axis(int axis, int ndim, const char* op);
std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op);

std::string shape_to_string(const Shape& shape);

}  // namespace tessera
