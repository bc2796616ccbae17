// The fixed cost of the lazy graph: build a chain of 1,000 elementwise nodes on a tiny array
// and evaluate it. Counter: per_node, seconds per node (build + schedule + run + free).
#include <benchmark/benchmark.h>

#include "tessera/ops.h"

namespace {

using tessera::array;

constexpr int kNodes = 1000;

void BM_graph_build_and_eval(benchmark::State& state) {
  array x = tessera::ones({16});
  x.eval();
  for (auto _ : state) {
    array y = x;
    for (int i = 0; i < kNodes; ++i) y = tessera::add(y, x);
    y.eval();
  }
  state.counters["per_node"] = benchmark::Counter(kNodes, benchmark::Counter::kIsIterationInvariantRate |
                                                              benchmark::Counter::kInvert);
}

void BM_graph_build_only(benchmark::State& state) {
  array x = tessera::ones({16});
  x.eval();
  for (auto _ : state) {
    array y = x;
    for (int i = 0; i < kNodes; ++i) y = tessera::add(y, x);
    benchmark::DoNotOptimize(y);
  }
  state.counters["per_node"] = benchmark::Counter(kNodes, benchmark::Counter::kIsIterationInvariantRate |
                                                              benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK(BM_graph_build_and_eval)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_graph_build_only)->Unit(benchmark::kMicrosecond)->UseRealTime();
