#include "backend/cpu/kernel_util.h"

#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

void parallel_chunks(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  parallel_for(n, min_chunk < 1 ? 1 : min_chunk, fn);
}

}  // namespace tessera::cpu
