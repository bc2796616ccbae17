#include "core/allocator.h"

#include "core/caching_allocator.h"

namespace tessera::allocator {

Buffer malloc(size_t size) { return Buffer(caching_allocator().malloc(size)); }

void free(Buffer buffer) { caching_allocator().free(buffer.raw_ptr()); }

}  // namespace tessera::allocator
