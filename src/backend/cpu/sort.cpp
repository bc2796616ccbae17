#include "backend/cpu/sort.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
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
      if (kth >= 0) std::nth_element(order.begin(), order.begin() + kth, order.end(), cmp);
      else std::sort(order.begin(), order.end(), cmp);
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
