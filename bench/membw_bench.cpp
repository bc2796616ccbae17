// Memory-bandwidth probe: the ceiling of every memory-bound kernel (decoding reads each weight
// once per token). `read` is the probe `tessera bench` prints next to its tokens/s (best of
// several passes over 512 MiB on huge pages); `memcpy` counts the bytes read plus those written.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "backend/cpu/memory_bandwidth.h"
#include "backend/cpu/thread_pool.h"

namespace {

constexpr size_t kBytes = size_t{512} << 20;  // far larger than any cache

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

std::unique_ptr<char, FreeDeleter> make_buffer(size_t bytes) {
  auto* p = static_cast<char*>(std::aligned_alloc(4096, bytes));
  std::memset(p, 1, bytes);  // touch every page before timing
  return std::unique_ptr<char, FreeDeleter>(p);
}

void BM_memcpy(benchmark::State& state) {
  const int threads = tessera::cpu::num_threads();
  auto src = make_buffer(kBytes), dst = make_buffer(kBytes);
  const size_t part = kBytes / threads;
  for (auto _ : state) {
    tessera::cpu::parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) std::memcpy(dst.get() + part * t, src.get() + part * t, part);
    });
    benchmark::ClobberMemory();
  }
  state.counters["bandwidth"] = benchmark::Counter(2.0 * part * threads, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
  state.counters["threads"] = threads;
}

void BM_read(benchmark::State& state) {
  double best = 0.0;
  for (auto _ : state) best = tessera::cpu::measure_read_bandwidth(kBytes, 5);
  state.counters["bandwidth"] = benchmark::Counter(best, benchmark::Counter::kDefaults, benchmark::Counter::OneK::kIs1000);
  state.counters["threads"] = tessera::cpu::num_threads();
}

}  // namespace

BENCHMARK(BM_memcpy)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_read)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
