// Reduction throughput of the core ops. Counter: bandwidth (input bytes read per second).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "tessera/ops.h"
#include "tessera/random.h"

namespace {

using tessera::array;

constexpr int64_t kRows = 4096, kCols = 4096;  // 64 MiB of float32

array input(tessera::Dtype dtype) {
  array a = tessera::random::uniform({kRows, kCols}, dtype, tessera::random::key(1));
  a.eval();
  return a;
}

void set_bandwidth(benchmark::State& state, size_t itemsize) {
  state.counters["bandwidth"] = benchmark::Counter(1.0 * kRows * kCols * itemsize, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

void BM_sum_all_f32(benchmark::State& state) {
  array a = input(tessera::float32);
  for (auto _ : state) tessera::sum(a).eval();
  set_bandwidth(state, 4);
}

void BM_sum_last_axis_f32(benchmark::State& state) {
  array a = input(tessera::float32);
  for (auto _ : state) tessera::sum(a, -1).eval();
  set_bandwidth(state, 4);
}

void BM_sum_first_axis_f32(benchmark::State& state) {
  array a = input(tessera::float32);
  for (auto _ : state) tessera::sum(a, 0).eval();
  set_bandwidth(state, 4);
}

void BM_max_last_axis_bf16(benchmark::State& state) {
  array a = input(tessera::bfloat16);
  for (auto _ : state) tessera::max(a, -1).eval();
  set_bandwidth(state, 2);
}

void BM_argmax_last_axis_f32(benchmark::State& state) {
  array a = input(tessera::float32);
  for (auto _ : state) tessera::argmax(a, -1).eval();
  set_bandwidth(state, 4);
}

}  // namespace

BENCHMARK(BM_sum_all_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sum_last_axis_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sum_first_axis_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_max_last_axis_bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_argmax_last_axis_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
