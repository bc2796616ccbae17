// Main-memory read bandwidth: the ceiling of every memory-bound kernel. Decoding a token reads
// each weight once, so tokens/s x weight bytes / this bandwidth is the fraction of the limit a
// model reaches (`tessera bench`, bench/membw_bench).
#pragma once

#include <cstddef>

namespace tessera::cpu {

// Bytes per second read from a buffer far larger than the caches by all threads of the pool,
// the best of `passes` passes: a virtual machine's bandwidth varies with its neighbours, and
// the best pass is what a kernel could reach.
double measure_read_bandwidth(size_t bytes = size_t{512} << 20, int passes = 5);

}  // namespace tessera::cpu
