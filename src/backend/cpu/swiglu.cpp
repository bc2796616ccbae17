#include "backend/cpu/swiglu.h"

#include <algorithm>
#include <type_traits>

#include "backend/cpu/elementwise.h"
#include "backend/cpu/float_blocks.h"
#include "backend/cpu/thread_pool.h"
#include "backend/cpu/vector_math.h"
#include "backend/cpu/dtype_dispatch.h"

namespace tessera::cpu {

namespace {

// One block of at most kFloatBlock elements: widened, computed and rounded once.
template <typename T>
void swiglu_block(const T* gate, const T* x, T* out, int64_t n) {
  float s[kFloatBlock];
  if constexpr (std::is_same_v<T, float>) {
    vector_sigmoid(gate, s, n);
    for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * s[i] * x[i];
  } else {
    float g[kFloatBlock], v[kFloatBlock];
    widen(gate, g, n);
    widen(x, v, n);
    vector_sigmoid(g, s, n);
    for (int64_t i = 0; i < n; ++i) s[i] = g[i] * s[i] * v[i];
    narrow(s, out, n);
  }
}

template <typename T>
void swiglu_range(const T* gate, const T* x, T* out, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i += kFloatBlock) {
    swiglu_block(gate + i, x + i, out + i, std::min(kFloatBlock, end - i));
  }
}

}  // namespace

void swiglu(Dtype dtype, const void* gate, const void* x, void* out, int64_t n) {
  dispatch_float(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto* g = static_cast<const T*>(gate);
    const auto* v = static_cast<const T*>(x);
    auto* o = static_cast<T*>(out);
    if (n < kParallelGrain) return swiglu_range(g, v, o, 0, n);
    parallel_for(n, kParallelGrain / 2, [&](int64_t begin, int64_t end) { swiglu_range(g, v, o, begin, end); });
  });
}

}  // namespace tessera::cpu
