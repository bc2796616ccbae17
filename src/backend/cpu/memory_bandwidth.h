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

// measure_read_bandwidth's buffer kept for repeated measurements, so that measuring next to each
// of several runs costs the passes only, not mapping and first-touching the buffer again.
class ReadBandwidthProbe {
 public:
  explicit ReadBandwidthProbe(size_t bytes = size_t{512} << 20);
  ~ReadBandwidthProbe();
  ReadBandwidthProbe(const ReadBandwidthProbe&) = delete;
  ReadBandwidthProbe& operator=(const ReadBandwidthProbe&) = delete;

  double measure(int passes = 5) const;

 private:
  char* data_;
  size_t bytes_;
};

}  // namespace tessera::cpu
