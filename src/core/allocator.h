// The memory allocator behind every array buffer. Kept deliberately small so the backing
// implementation (malloc now, a caching allocator with counters later) can change freely.
#pragma once

#include <cstddef>

#include "tessera/array.h"

namespace tessera::allocator {

// A buffer of at least `size` bytes, aligned for any SIMD load. Throws std::bad_alloc on failure.
Buffer malloc(size_t size);
void free(Buffer buffer);

}  // namespace tessera::allocator
