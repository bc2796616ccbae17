// scaled_dot_product_attention as a 1B Llama decodes and prefills (32 query heads over 8
// key/value heads of 64, bfloat16): one query per head over a cache of T tokens (a view of a
// larger cache, as the KV cache hands it out), and 512 queries on top of T cached tokens; and a
// batch of 8 sequences decoding over short caches of one left-padded batch, the 16 layers of a
// step in turn (BM_batch_attention: each row's mask hides its padding). Counter: bandwidth, the keys and values read per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

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

void BM_batch_attention(benchmark::State& state) {
  const int64_t B = 8, T = state.range(0), cap = T + 256;
  constexpr int kLayers = 16;  // each layer's cache, in turn, as decoding reads them
  const array padding = tessera::arange(0, static_cast<int>(B), 1, tessera::int32);  // row b: b columns
  const array mask = tessera::greater_equal(
      tessera::reshape(tessera::arange(0, static_cast<int>(T), 1, tessera::int32), {1, 1, 1, T}),
      tessera::reshape(padding, {B, 1, 1, 1}));
  std::vector<array> qs, ks, vs;
  for (int l = 0; l < kLayers; ++l) {
    qs.push_back(tessera::random::normal({B, 32, 1, 64}, tessera::bfloat16, 0.0f, 1.0f, tessera::random::key(3 * l)));
    const array k_cache =
        tessera::random::normal({B, 8, cap, 64}, tessera::bfloat16, 0.0f, 1.0f, tessera::random::key(3 * l + 1));
    const array v_cache =
        tessera::random::normal({B, 8, cap, 64}, tessera::bfloat16, 0.0f, 1.0f, tessera::random::key(3 * l + 2));
    tessera::eval({qs.back(), k_cache, v_cache, mask});
    ks.push_back(tessera::slice(k_cache, {0, 0, 0, 0}, {B, 8, T, 64}));
    vs.push_back(tessera::slice(v_cache, {0, 0, 0, 0}, {B, 8, T, 64}));
  }
  for (auto _ : state)
    for (int l = 0; l < kLayers; ++l)
      tessera::fast::scaled_dot_product_attention(qs[l], ks[l], vs[l], 0.125f, "", mask).eval();
  state.counters["bandwidth"] = benchmark::Counter(kLayers * 2.0 * B * 8 * T * 64 * 2,
                                                   benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

}  // namespace

BENCHMARK(BM_batch_attention)->ArgNames({"cached"})->Arg(48)->Arg(80)->Arg(256)->Unit(benchmark::kMicrosecond)->UseRealTime();

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
