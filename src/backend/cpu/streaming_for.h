// parallel_for for kernels that stream memory in index order (the decode GEMVs).
#pragma once

#include <cstdint>

#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

// Calls fn on disjoint ranges covering [0, n), each a multiple of `grain` long but the last.
// Every thread owns one contiguous segment and works through it front to back in a few pieces,
// so that it reads one stream; a thread that runs out takes the back half of what another has
// left (again a contiguous range). With an even static split, the thread that started a
// microsecond later or shared its core kept the other waiting at the end of every product.
void streaming_for(int64_t n, int64_t grain, const RangeFn& fn);

}  // namespace tessera::cpu
