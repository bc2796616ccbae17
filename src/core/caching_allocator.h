// The CPU caching allocator behind allocator::malloc / allocator::free.
//
// Freed blocks go to per-size-class free lists instead of back to the OS, so the buffers of a
// decode step are reused by the next step without page faults. Requests are rounded up to a
// size class (multiples of 64 bytes up to 4 KiB, then 8 classes per power of two: at most
// 12.5 % slack). Counters follow MLX: active (held by arrays), peak active, cached.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace tessera::allocator {

class CachingAllocator {
 public:
  CachingAllocator();
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // 64-byte aligned block of at least `size` bytes (a unique pointer even for 0). Throws
  // std::runtime_error when the active memory would exceed the limit even after dropping
  // the cache, std::bad_alloc when the system has no memory.
  void* malloc(size_t size);
  void free(void* ptr);

  size_t active_memory();
  size_t peak_memory();
  void reset_peak_memory();
  size_t cache_memory();
  size_t memory_limit();
  // Both setters return the previous value.
  size_t set_memory_limit(size_t limit);
  size_t set_cache_limit(size_t limit);
  void clear_cache();

  static size_t size_class(size_t size);

 private:
  // Frees cached blocks, largest classes first, until at most `target` bytes stay cached.
  void trim_cache_locked(size_t target);

  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_blocks_;  // size class -> cached blocks
  size_t active_ = 0;
  size_t peak_ = 0;
  size_t cached_ = 0;
  size_t memory_limit_;
  size_t cache_limit_;
};

// The process-wide allocator.
CachingAllocator& caching_allocator();

}  // namespace tessera::allocator
