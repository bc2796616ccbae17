// scaled_dot_product_attention as a 1B Llama decodes and prefills (32 query heads over 8
// key/value heads of 64, bfloat16): one query per head over a cache of T tokens (a view of a
// larger cache, as the KV cache hands it out), and 512 queries on top of T cached tokens. Counter:
// bandwidth, the keys and values read per second.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "tessera/fast.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace {

using tessera::array;

void BM_attention(benchmark::State& state) {
  const int64_t queries = state.range(0), cached = state.range(1), T = cached + queries;
  const auto key = tessera::random::key(1);
  array q = tessera::random::normal({1, 32, queries, 64}, tessera::bfloat16, 0.0f, 1.0f, key);
  array k_cache = tessera::random::normal({1, 8, T + 256, 64}, tessera::bfloat16, 0.0f, 1.0f, tessera::random::key(2));
  array v_cache = tessera::random::normal({1, 8, T + 256, 64}, tessera::bfloat16, 0.0f, 1.0f, tessera::random::key(3));
  tessera::eval({q, k_cache, v_cache});
  const array k = tessera::slice(k_cache, {0, 0, 0, 0}, {1, 8, T, 64});
  const array v = tessera::slice(v_cache, {0, 0, 0, 0}, {1, 8, T, 64});
  for (auto _ : state) tessera::fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal").eval();
  state.counters["bandwidth"] = benchmark::Counter(2.0 * 8 * T * 64 * 2, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

}  // namespace

BENCHMARK(BM_attention)
    ->ArgNames({"queries", "cached"})
    ->Args({1, 512})
    ->Args({1, 2048})
    ->Args({1, 4096})
    ->Args({4, 4096})
    ->Args({15, 4096})
    ->Args({16, 4096})
    ->Args({64, 4096})
    ->Args({512, 0})
    ->Args({512, 4096})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
