// Softmax over the last axis (attention-score and logits shapes). Counter: bandwidth (bytes
// read plus written per second).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "tessera/ops.h"
#include "tessera/random.h"

namespace {

using tessera::array;

void BM_softmax(benchmark::State& state) {
  int64_t rows = state.range(0), cols = state.range(1);
  tessera::Dtype dtype = state.range(2) ? tessera::bfloat16 : tessera::float32;
  array a = tessera::random::normal({rows, cols}, dtype, 0.0f, 1.0f, tessera::random::key(1));
  a.eval();
  for (auto _ : state) tessera::softmax(a, -1).eval();
  state.counters["bandwidth"] = benchmark::Counter(2.0 * rows * cols * tessera::size_of(dtype),
                                                   benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

}  // namespace

BENCHMARK(BM_softmax)
    ->ArgNames({"rows", "cols", "bf16"})
    ->Args({4096, 4096, 0})
    ->Args({4096, 4096, 1})
    ->Args({32, 128256, 0})
    ->Args({16384, 64, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
