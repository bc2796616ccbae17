#include "backend/cpu/sort.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "backend/cpu/dtype_dispatch.h"
#include "backend/cpu/kernel_util.h"

namespace tessera::cpu {
namespace {

// Ascending with NaN after everything else, so that sorting is a strict weak order.
template <typename K>
bool key_less(K a, K b) {
  if constexpr (std::is_integral_v<K>) {
    return a < b;
  } else {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    return a < b;
  }
}

// The order of float keys as unsigned integers: ascending floats map to ascending images, -0
// to +0's image (they compare equal), and every NaN past +inf's.
uint32_t radix_image(float key) {
  if (std::isnan(key)) return 0xFFFFFFFFu;
  const uint32_t bits = key == 0.0f ? 0u : std::bit_cast<uint32_t>(key);
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

// Below this many keys std::sort is as fast as the radix passes.
constexpr int64_t kRadixMinKeys = 2048;

// order = the stable ascending order of keys[0, n) under key_less: a least-significant-digit
// radix sort in three passes of 11 bits, O(n) where std::sort is O(n log n) (top-p sampling
// sorts the whole vocabulary at every token).
void radix_argsort(const float* keys, int64_t n, std::vector<uint32_t>& order) {
  constexpr int kBits = 11;
  constexpr uint32_t kBuckets = 1u << kBits;
  // Scratch kept per thread: a sampler sorts a vocabulary-sized row at every token.
  thread_local std::vector<uint32_t> image, image_next, order_next;
  image.resize(n), image_next.resize(n), order_next.resize(n);
  for (int64_t i = 0; i < n; ++i) image[i] = radix_image(keys[i]);
  std::iota(order.begin(), order.end(), 0u);
  std::vector<uint32_t> start(kBuckets);
  for (int shift = 0; shift < 32; shift += kBits) {
    std::fill(start.begin(), start.end(), 0u);
    for (int64_t i = 0; i < n; ++i) ++start[(image[i] >> shift) & (kBuckets - 1)];
    uint32_t total = 0;
    for (uint32_t& s : start) total += std::exchange(s, total);
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t at = start[(image[i] >> shift) & (kBuckets - 1)]++;
      image_next[at] = image[i];
      order_next[at] = order[i];
    }
    image.swap(image_next);
    order.swap(order_next);
  }
}

// argpartition of a long row at a small kth (top-k sampling: k of a vocabulary): one pass that
// keeps the kth + 1 smallest in a heap beats nth_element's repeated passes over the row.
constexpr int64_t kHeapMaxFraction = 64;

// Puts the kth of order in its sorted place, smaller keys before it and larger after, as
// std::nth_element with `less`; a small kth takes the heap: the kth + 1 smallest in sorted
// order, then the rest in index order.
template <typename Less>
void partition(int64_t n, int64_t kth, std::vector<uint32_t>& order, const Less& less) {
  if (n < kRadixMinKeys || kth >= n / kHeapMaxFraction) {
    std::nth_element(order.begin(), order.begin() + kth, order.end(), less);
    return;
  }
  std::vector<uint32_t> heap(order.begin(), order.begin() + kth + 1);
  std::make_heap(heap.begin(), heap.end(), less);
  for (int64_t i = kth + 1; i < n; ++i) {
    const auto index = static_cast<uint32_t>(i);
    if (!less(index, heap.front())) continue;
    std::pop_heap(heap.begin(), heap.end(), less);
    heap.back() = index;
    std::push_heap(heap.begin(), heap.end(), less);
  }
  std::sort_heap(heap.begin(), heap.end(), less);
  std::vector<bool> taken(n, false);
  for (uint32_t index : heap) taken[index] = true;
  std::copy(heap.begin(), heap.end(), order.begin());
  auto rest = order.begin() + kth + 1;
  for (int64_t i = 0; i < n; ++i)
    if (!taken[i]) *rest++ = static_cast<uint32_t>(i);
}

template <typename K, typename Less>
void full_sort(const K* keys, int64_t n, std::vector<uint32_t>& order, const Less& less) {
  if constexpr (std::is_same_v<K, float>) {
    if (n >= kRadixMinKeys) return radix_argsort(keys, n, order);
  }
  std::sort(order.begin(), order.end(), less);
}

template <typename T>
void sort_typed(const T* in, int64_t outer, int64_t n, int64_t inner, bool want_indices, int64_t kth, void* out) {
  using K = std::conditional_t<std::is_integral_v<T>, T, float>;
  parallel_chunks(outer * inner, 1, [&](int64_t begin, int64_t end) {
    std::unique_ptr<K[]> keys(new K[n]);  // not vector: vector<bool> has no references
    std::vector<uint32_t> order(n);
    for (int64_t p = begin; p < end; ++p) {
      const int64_t o = p / inner, j = p % inner;
      const T* src = in + o * n * inner + j;
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_integral_v<T>) keys[i] = src[i * inner];
        else keys[i] = to_f32(src[i * inner]);
      }
      std::iota(order.begin(), order.end(), 0u);
      auto cmp = [&](uint32_t a, uint32_t b) {
        if (key_less<K>(keys[a], keys[b])) return true;
        if (key_less<K>(keys[b], keys[a])) return false;
        return a < b;  // stable for equal keys
      };
      if (kth >= 0) {
        partition(n, kth, order, cmp);
      } else {
        full_sort(keys.get(), n, order, cmp);
      }
      const int64_t base = o * n * inner + j;
      if (want_indices) {
        uint32_t* dst = static_cast<uint32_t*>(out) + base;
        for (int64_t i = 0; i < n; ++i) dst[i * inner] = order[i];
      } else {
        T* dst = static_cast<T*>(out) + base;
        for (int64_t i = 0; i < n; ++i) dst[i * inner] = src[order[i] * inner];
      }
    }
  });
}

}  // namespace

void sort_axis(Dtype dtype, const void* in, int64_t outer, int64_t n, int64_t inner, bool indices, int64_t kth,
               void* out) {
  if (outer * n * inner == 0) return;
  dispatch_all(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    sort_typed<T>(static_cast<const T*>(in), outer, n, inner, indices, kth, out);
  });
}

}  // namespace tessera::cpu
