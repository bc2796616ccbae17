#include "core/allocator.h"

#include <cstdlib>
#include <new>

namespace tessera::allocator {

namespace {
constexpr size_t kAlignment = 64;
}

Buffer malloc(size_t size) {
  // aligned_alloc needs a size that is a multiple of the alignment; a zero-size request still
  // gets a real (unique) pointer so that empty arrays count as evaluated.
  size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* ptr = std::aligned_alloc(kAlignment, rounded);
  if (ptr == nullptr) throw std::bad_alloc();
  return Buffer(ptr);
}

void free(Buffer buffer) { std::free(buffer.raw_ptr()); }

}  // namespace tessera::allocator
