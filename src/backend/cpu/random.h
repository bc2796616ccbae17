// Threefry-2x32 (20 rounds; Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"),
// the counter-based generator behind tessera::random.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

std::pair<uint32_t, uint32_t> threefry2x32(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1);

// Counter pairs at a time: (count0 + i, count1 + i) -> (lo[i], hi[i]) for i < kThreefryLanes, the
// words threefry2x32 gives, computed in SIMD lanes where the CPU has AVX-512.
constexpr int kThreefryLanes = 16;
void threefry2x32_lanes(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1, uint32_t* lo, uint32_t* hi);

// The random stream of a key: n 32-bit words. As in JAX, the counters 0..n-1 (padded to even)
// are cut in two halves, and pair j hashes (j, j + half) into words j and j + half.
// Calls emit(index, word) once per index in [0, n), from the thread pool.
template <class Emit>
void for_each_random_word(uint32_t key0, uint32_t key1, int64_t n, Emit emit) {
  int64_t half = (n + 1) / 2;
  parallel_for(half, 4096, [&](int64_t begin, int64_t end) {
    uint32_t lo[kThreefryLanes], hi[kThreefryLanes];
    for (int64_t j0 = begin; j0 < end; j0 += kThreefryLanes) {
      threefry2x32_lanes(key0, key1, static_cast<uint32_t>(j0), static_cast<uint32_t>(j0 + half), lo, hi);
      for (int64_t j = j0; j < std::min(end, j0 + kThreefryLanes); ++j) {
        emit(j, lo[j - j0]);
        if (j + half < n) emit(j + half, hi[j - j0]);
      }
    }
  });
}

// A float uniform on [0, 1) from the top 24 bits of a word.
inline float unit_float(uint32_t word) { return static_cast<float>(word >> 8) * 0x1p-24f; }

// A standard normal value from a word: sqrt(2) * erfinv(u), u uniform on (-1, 1).
float normal_from_word(uint32_t word);

}  // namespace tessera::cpu
