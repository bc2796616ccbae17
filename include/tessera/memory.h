// Memory use of array buffers (the caching allocator's counters) and its limits.
//
// Arrays over mmap'd safetensors files are not counted: their pages belong to the file.
#pragma once

#include <cstddef>

namespace tessera {

// Bytes held by live arrays.
size_t get_active_memory();
// The highest active memory since start or the last reset_peak_memory().
size_t get_peak_memory();
void reset_peak_memory();
// Bytes of freed buffers kept for reuse.
size_t get_cache_memory();
// Caps active memory (default: the machine's physical memory); an allocation that would pass
// it, even after the cache is dropped, throws std::runtime_error. Returns the previous limit.
size_t set_memory_limit(size_t limit);
size_t get_memory_limit();
// Caps the cache (default: the memory limit); 0 disables caching. Returns the previous limit.
size_t set_cache_limit(size_t limit);
// Returns every cached buffer to the system.
void clear_cache();

}  // namespace tessera
