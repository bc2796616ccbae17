// Memory-bandwidth probe: memcpy and pure-read bandwidth on 1 and 2 threads, the ceiling for
// every memory-bound kernel (decoding reads each weight once per token).
// Counter: bandwidth (bytes moved per second; memcpy counts the bytes read plus those written).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "backend/cpu/simd_features.h"
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

// Runs fn(begin, end) over [0, bytes) split into `threads` equal parts at once.
template <class Fn>
void split_bytes(int threads, size_t bytes, Fn fn) {
  size_t part = bytes / threads / 64 * 64;
  tessera::cpu::parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      size_t lo = part * t, hi = t + 1 == threads ? bytes : part * (t + 1);
      fn(lo, hi);
    }
  });
}

TESSERA_TARGET_AVX512 uint64_t read_sum_avx512(const char* p, size_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 256 <= n; i += 256) {
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 64));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 128));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 192));
  }
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
}

uint64_t read_sum(const char* p, size_t n) {
  if (tessera::cpu::cpu_has_avx512()) return read_sum_avx512(p, n);
  uint64_t s0 = 0, s1 = 0;
  for (size_t i = 0; i + 16 <= n; i += 16) {
    uint64_t a, b;
    std::memcpy(&a, p + i, 8);
    std::memcpy(&b, p + i + 8, 8);
    s0 += a;
    s1 += b;
  }
  return s0 + s1;
}

void BM_memcpy(benchmark::State& state) {
  int threads = static_cast<int>(state.range(0));
  auto src = make_buffer(kBytes), dst = make_buffer(kBytes);
  for (auto _ : state) {
    split_bytes(threads, kBytes, [&](size_t lo, size_t hi) { std::memcpy(dst.get() + lo, src.get() + lo, hi - lo); });
    benchmark::ClobberMemory();
  }
  state.counters["bandwidth"] = benchmark::Counter(2.0 * kBytes, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
  state.counters["threads"] = threads;
}

void BM_read(benchmark::State& state) {
  int threads = static_cast<int>(state.range(0));
  auto src = make_buffer(kBytes);
  for (auto _ : state) {
    std::atomic<uint64_t> total{0};
    split_bytes(threads, kBytes, [&](size_t lo, size_t hi) { total += read_sum(src.get() + lo, hi - lo); });
    benchmark::DoNotOptimize(total.load());
  }
  state.counters["bandwidth"] = benchmark::Counter(1.0 * kBytes, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
  state.counters["threads"] = threads;
}

}  // namespace

BENCHMARK(BM_memcpy)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_read)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
