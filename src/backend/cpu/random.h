// Threefry-2x32 (20 rounds; Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"),
// the counter-based generator behind tessera::random.
#pragma once

#include <cstdint>
#include <utility>

#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

std::pair<uint32_t, uint32_t> threefry2x32(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1);

// The random stream of a key: n 32-bit words. As in JAX, the counters 0..n-1 (padded to even)
// are cut in two halves, and pair j hashes (j, j + half) into words j and j + half.
// Calls emit(index, word) once per index in [0, n), from the thread pool.
template <class Emit>
void for_each_random_word(uint32_t key0, uint32_t key1, int64_t n, Emit emit) {
  int64_t half = (n + 1) / 2;
  parallel_for(half, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      auto [lo, hi] = threefry2x32(key0, key1, static_cast<uint32_t>(j), static_cast<uint32_t>(j + half));
      emit(j, lo);
      if (j + half < n) emit(j + half, hi);
    }
  });
}

// A float uniform on [0, 1) from the top 24 bits of a word.
inline float unit_float(uint32_t word) { return static_cast<float>(word >> 8) * 0x1p-24f; }

// A standard normal value from a word: sqrt(2) * erfinv(u), u uniform on (-1, 1).
float normal_from_word(uint32_t word);

}  // namespace tessera::cpu
