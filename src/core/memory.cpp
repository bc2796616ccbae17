#include "tessera/memory.h"

#include "core/caching_allocator.h"

namespace tessera {

size_t get_active_memory() { return allocator::caching_allocator().active_memory(); }
size_t get_peak_memory() { return allocator::caching_allocator().peak_memory(); }
void reset_peak_memory() { allocator::caching_allocator().reset_peak_memory(); }
size_t get_cache_memory() { return allocator::caching_allocator().cache_memory(); }
size_t set_memory_limit(size_t limit) { return allocator::caching_allocator().set_memory_limit(limit); }
size_t get_memory_limit() { return allocator::caching_allocator().memory_limit(); }
size_t set_cache_limit(size_t limit) { return allocator::caching_allocator().set_cache_limit(limit); }
void clear_cache() { allocator::caching_allocator().clear_cache(); }

}  // namespace tessera
