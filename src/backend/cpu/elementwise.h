// CPU kernels for the elementwise and copy primitives. Each kernel allocates (or takes over by
// donation) its output's buffer.
#pragma once

#include "core/primitives/elementwise.h"
#include "tessera/array.h"

namespace tessera::cpu {

void unary(UnaryOp op, const array& in, array& out);
// a and b have out's dtype (or out is bool for comparisons); shapes broadcast to out's shape.
void binary(BinaryOp op, const array& a, const array& b, array& out);
// condition is bool; x and y have out's dtype; all broadcast to out's shape.
void select(const array& condition, const array& x, const array& y, array& out);

// Strides of `a` seen through a broadcast to `shape` (0 along broadcast axes).
Strides broadcast_strides(const array& a, const Shape& shape);

// Whole elementwise loops are split across the thread pool above this many elements.
inline constexpr int64_t kParallelGrain = 1 << 15;

}  // namespace tessera::cpu
