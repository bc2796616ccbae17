#include "core/caching_allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>

namespace tessera::allocator {

namespace {

constexpr size_t kAlignment = 64;
// Each block starts with a header holding its size class; the caller's pointer follows it,
// keeping the 64-byte alignment.
constexpr size_t kHeader = kAlignment;

struct BlockHeader {
  size_t size_class;
};

size_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return SIZE_MAX;
  return static_cast<size_t>(pages) * static_cast<size_t>(page_size);
}

BlockHeader* header_of(void* ptr) { return reinterpret_cast<BlockHeader*>(static_cast<char*>(ptr) - kHeader); }

// Asks for transparent huge pages over the 2 MiB-aligned interior of a large block. The large
// blocks are decode layouts, caches and activations, which kernels stream: with 4 KiB pages
// every page of a stream costs a TLB miss (bf16 GEMVs over a 1B model's matrices read 76 GB/s
// from huge pages against 67-70 from 4 KiB pages at an ~80 GB/s probe), and first-touching a
// block costs 512 times the page faults (making a 1B 8-bit model's decode layouts: 1.6 -> 0.4 s).
// Where the kernel leaves huge pages off, the advice is ignored.
void advise_huge_pages(void* block, size_t size) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  if (size < 2 * kHugePage) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(block) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(block) + size) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace

CachingAllocator::CachingAllocator() : memory_limit_(physical_memory()), cache_limit_(memory_limit_) {}

CachingAllocator::~CachingAllocator() { clear_cache(); }

size_t CachingAllocator::size_class(size_t size) {
  if (size <= 4096) return size <= kAlignment ? kAlignment : (size + kAlignment - 1) / kAlignment * kAlignment;
  size_t step = std::bit_floor(size) / 8;
  return (size + step - 1) / step * step;
}

void* CachingAllocator::malloc(size_t size) {
  if (size > SIZE_MAX / 2) throw std::bad_alloc();
  size_t cls = size_class(size);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = free_blocks_.find(cls); it != free_blocks_.end() && !it->second.empty()) {
    void* ptr = it->second.back();
    it->second.pop_back();
    cached_ -= cls;
    active_ += cls;
    peak_ = std::max(peak_, active_);
    return ptr;
  }
  if (active_ + cls > memory_limit_) {
    throw std::runtime_error("[malloc] Allocating " + std::to_string(size) + " bytes would exceed the memory limit of " +
                             std::to_string(memory_limit_) + " bytes (" + std::to_string(active_) +
                             " bytes in use); raise it with set_memory_limit.");
  }
  // Cached blocks of other sizes count against physical memory too: make room first.
  if (active_ + cached_ + cls > memory_limit_) trim_cache_locked(memory_limit_ - active_ - cls);
  void* raw = std::aligned_alloc(kAlignment, kHeader + cls);
  if (raw == nullptr && cached_ > 0) {
    trim_cache_locked(0);
    raw = std::aligned_alloc(kAlignment, kHeader + cls);
  }
  if (raw == nullptr) throw std::bad_alloc();
  advise_huge_pages(raw, kHeader + cls);
  static_cast<BlockHeader*>(raw)->size_class = cls;
  active_ += cls;
  peak_ = std::max(peak_, active_);
  return static_cast<char*>(raw) + kHeader;
}

void CachingAllocator::free(void* ptr) {
  if (ptr == nullptr) return;
  size_t cls = header_of(ptr)->size_class;
  std::lock_guard<std::mutex> lock(mutex_);
  active_ -= cls;
  if (cls > cache_limit_) {
    std::free(header_of(ptr));
    return;
  }
  free_blocks_[cls].push_back(ptr);
  cached_ += cls;
  if (cached_ > cache_limit_) trim_cache_locked(cache_limit_);
}

void CachingAllocator::trim_cache_locked(size_t target) {
  while (cached_ > target && !free_blocks_.empty()) {
    auto it = std::prev(free_blocks_.end());
    auto& blocks = it->second;
    while (!blocks.empty() && cached_ > target) {
      std::free(header_of(blocks.back()));
      blocks.pop_back();
      cached_ -= it->first;
    }
    if (blocks.empty()) free_blocks_.erase(it);
  }
}

size_t CachingAllocator::active_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

size_t CachingAllocator::peak_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

void CachingAllocator::reset_peak_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  peak_ = active_;
}

size_t CachingAllocator::cache_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}

size_t CachingAllocator::memory_limit() {
  std::lock_guard<std::mutex> lock(mutex_);
  return memory_limit_;
}

size_t CachingAllocator::set_memory_limit(size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t previous = memory_limit_;
  memory_limit_ = limit;
  if (active_ + cached_ > limit) trim_cache_locked(limit > active_ ? limit - active_ : 0);
  return previous;
}

size_t CachingAllocator::set_cache_limit(size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t previous = cache_limit_;
  cache_limit_ = limit;
  trim_cache_locked(limit);
  return previous;
}

void CachingAllocator::clear_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  trim_cache_locked(0);
}

CachingAllocator& caching_allocator() {
  // Never destroyed: arrays in static storage may free their buffers during exit.
  static auto* allocator = new CachingAllocator();
  return *allocator;
}

}  // namespace tessera::allocator
