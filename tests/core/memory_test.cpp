// The caching allocator and the public memory counters.
#include "core/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/allocator.h"
#include "tessera/io.h"
#include "tessera/memory.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

using allocator::CachingAllocator;

TEST(CachingAllocator, SizeClassesBoundTheSlack) {
  EXPECT_EQ(CachingAllocator::size_class(0), 64u);
  EXPECT_EQ(CachingAllocator::size_class(1), 64u);
  EXPECT_EQ(CachingAllocator::size_class(65), 128u);
  EXPECT_EQ(CachingAllocator::size_class(4096), 4096u);
  EXPECT_EQ(CachingAllocator::size_class(4097), 4608u);
  for (size_t size = 1; size < (size_t{1} << 32); size = size * 3 + 7) {
    size_t cls = CachingAllocator::size_class(size);
    EXPECT_GE(cls, size);
    EXPECT_EQ(cls % 64, 0u);
    if (size > 4096) {
      EXPECT_LE(cls, size + size / 8) << size;
    }
  }
}

TEST(CachingAllocator, ReusesFreedBlocksAndCounts) {
  CachingAllocator a;
  void* p = a.malloc(1000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  std::memset(p, 1, 1000);
  EXPECT_EQ(a.active_memory(), 1024u);
  EXPECT_EQ(a.peak_memory(), 1024u);
  a.free(p);
  EXPECT_EQ(a.active_memory(), 0u);
  EXPECT_EQ(a.cache_memory(), 1024u);
  void* q = a.malloc(1010);  // same size class: the cached block comes back
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.cache_memory(), 0u);
  void* r = a.malloc(5000);
  EXPECT_EQ(a.active_memory(), 1024u + CachingAllocator::size_class(5000));
  EXPECT_EQ(a.peak_memory(), a.active_memory());
  a.free(r);
  a.free(q);
  EXPECT_EQ(a.active_memory(), 0u);
  EXPECT_EQ(a.peak_memory(), 1024u + CachingAllocator::size_class(5000));
  a.reset_peak_memory();
  EXPECT_EQ(a.peak_memory(), 0u);
  a.clear_cache();
  EXPECT_EQ(a.cache_memory(), 0u);
}

TEST(CachingAllocator, ZeroSizeGivesDistinctPointers) {
  CachingAllocator a;
  void* p = a.malloc(0);
  void* q = a.malloc(0);
  EXPECT_NE(p, q);
  a.free(p);
  a.free(q);
  a.free(nullptr);
}

TEST(CachingAllocator, MemoryLimitThrowsAfterDroppingTheCache) {
  CachingAllocator a;
  a.set_memory_limit(1 << 20);
  void* big = a.malloc(500 * 1024);
  void* cached = a.malloc(300 * 1024);
  a.free(cached);
  EXPECT_GT(a.cache_memory(), 0u);
  // 500K active + 400K new fits the limit only once the 300K cached block is released.
  void* more = a.malloc(400 * 1024);
  EXPECT_EQ(a.cache_memory(), 0u);
  try {
    a.malloc(200 * 1024);
    FAIL() << "allocation past the limit succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("memory limit"), std::string::npos);
  }
  EXPECT_EQ(a.set_memory_limit(size_t{1} << 40), size_t{1} << 20);
  void* fits = a.malloc(200 * 1024);
  a.free(fits);
  a.free(more);
  a.free(big);
}

TEST(CachingAllocator, CacheLimitEvicts) {
  CachingAllocator a;
  a.set_cache_limit(10000);
  void* p = a.malloc(8192);
  void* q = a.malloc(8192);
  a.free(p);
  a.free(q);
  EXPECT_LE(a.cache_memory(), 10000u);
  EXPECT_EQ(a.set_cache_limit(0), 10000u);
  EXPECT_EQ(a.cache_memory(), 0u);
  void* r = a.malloc(100);
  a.free(r);
  EXPECT_EQ(a.cache_memory(), 0u);  // a zero cache limit disables caching
}

TEST(Memory, ArraysAreCountedWhileAlive) {
  size_t before = get_active_memory();
  reset_peak_memory();
  {
    array a = zeros({1024, 256});  // 1 MiB of float32
    a.eval();
    EXPECT_GE(get_active_memory(), before + 1024 * 256 * 4);
  }
  EXPECT_LE(get_active_memory(), before);
  EXPECT_GE(get_peak_memory(), before + 1024 * 256 * 4);
  EXPECT_GE(get_cache_memory(), 1024u * 256 * 4);
  clear_cache();
  EXPECT_EQ(get_cache_memory(), 0u);
}

TEST(Memory, MappedSafetensorsAreNotActiveMemory) {
  size_t before = get_active_memory();
  SafetensorsFile f = load_safetensors("tests/fixtures/models/llama/model.safetensors");
  ASSERT_FALSE(f.tensors.empty());
  EXPECT_EQ(get_active_memory(), before);
}

TEST(Memory, LimitRoundTrips) {
  size_t original = get_memory_limit();
  EXPECT_GT(original, 0u);
  EXPECT_EQ(set_memory_limit(original / 2), original);
  EXPECT_EQ(get_memory_limit(), original / 2);
  set_memory_limit(original);
}

}  // namespace
}  // namespace tessera
