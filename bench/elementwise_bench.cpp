// Elementwise throughput of the core ops, graph building and evaluation included.
// Counter: bandwidth (bytes read plus written per second; compare with membw_bench memcpy).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "tessera/ops.h"
#include "tessera/random.h"

namespace {

using tessera::array;

constexpr int64_t kElements = int64_t{1} << 24;  // 64 MiB of float32 per operand

array input(tessera::Dtype dtype, uint64_t seed) {
  array a = tessera::random::uniform({kElements}, dtype, tessera::random::key(seed));
  a.eval();
  return a;
}

void set_bandwidth(benchmark::State& state, int operands, size_t itemsize) {
  state.counters["bandwidth"] = benchmark::Counter(1.0 * operands * kElements * itemsize, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

void BM_add_f32(benchmark::State& state) {
  array a = input(tessera::float32, 1), b = input(tessera::float32, 2);
  for (auto _ : state) tessera::add(a, b).eval();
  set_bandwidth(state, 3, 4);
}

void BM_add_bf16(benchmark::State& state) {
  array a = input(tessera::bfloat16, 1), b = input(tessera::bfloat16, 2);
  for (auto _ : state) tessera::add(a, b).eval();
  set_bandwidth(state, 3, 2);
}

void BM_multiply_scalar_f32(benchmark::State& state) {
  array a = input(tessera::float32, 3);
  for (auto _ : state) tessera::multiply(a, array(1.5f)).eval();
  set_bandwidth(state, 2, 4);
}

void BM_exp_f32(benchmark::State& state) {
  array a = input(tessera::float32, 4);
  for (auto _ : state) tessera::exp(a).eval();
  set_bandwidth(state, 2, 4);
}

void BM_astype_f32_to_bf16(benchmark::State& state) {
  array a = input(tessera::float32, 5);
  for (auto _ : state) tessera::astype(a, tessera::bfloat16).eval();
  state.counters["bandwidth"] = benchmark::Counter(6.0 * kElements, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

}  // namespace

BENCHMARK(BM_add_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_add_bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_multiply_scalar_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exp_f32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_astype_f32_to_bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
