// Cumulative sums, maxima and products along one axis of row-contiguous data.
#pragma once

#include <cstdint>

#include "tessera/dtype.h"

namespace tessera::cpu {

enum class ScanKind { sum, max, prod };

// in and out are row-contiguous [outer, n, inner]; the scan runs along n. Output dtype:
// sum/prod of bool give int32 (scan_output_dtype), otherwise the input's.
void scan(ScanKind kind, Dtype dtype, const void* in, void* out, int64_t outer, int64_t n, int64_t inner,
          bool reverse, bool inclusive);

Dtype scan_output_dtype(ScanKind kind, Dtype in_dtype);

}  // namespace tessera::cpu
