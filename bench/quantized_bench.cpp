// quantized_matmul throughput: decode shapes (M = 1) in GB/s of weight bytes read, against the
// bf16 matrix-vector product of the same matrix; batched decode (M = 2 to 64: where the few-row
// kernel hands over to dequantize + GEMM) and prefill (M = 512) in GFLOP/s. 512 x 2048 is a
// key/value projection of a 1B model: there the per-call cost shows. The 64 MB matrices (rows of
// 2048 and 8192 elements) do not fit in the cache: they measure the decode kernel from DRAM.
// 4- and 8-bit matrices of these shapes take the decode layout (quantized_decode.h), made by the
// first iteration; up to 16 rows of x are read from it, and at 4 bits up to 32 of bfloat16 x (as
// here) in the bf16 form. 8 rows against 64 MB matrices: batched decoding from DRAM.
//   build/bench/quantized_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <tuple>
#include <vector>

#include "bench_util.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace {

using namespace tessera;
using bench::random_matrix;

constexpr int kGroupSize = 64;

void set_counters(benchmark::State& state, double bytes, double flops) {
  state.counters["bandwidth"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: M, N, K, bits.
void BM_QuantizedMatmul(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const int bits = static_cast<int>(state.range(3));
  auto [w, s, b] = quantize(random_matrix(N, K, bfloat16), kGroupSize, bits);
  eval(w, s, b);
  array x = random_matrix(M, K, bfloat16);
  x.eval();
  for (auto _ : state) {
    array y = quantized_matmul(x, w, s, b, true, kGroupSize, bits);
    y.eval();
  }
  set_counters(state, static_cast<double>(w.nbytes() + s.nbytes() + b.nbytes()), 2.0 * M * N * K);
}

// Args: M, N, K. The Linear layout: x [M, K] times W^T with W [N, K] in bf16.
void BM_Bf16Matmul(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  array w = random_matrix(N, K, bfloat16);
  array x = random_matrix(M, K, bfloat16);
  eval(w, x);
  for (auto _ : state) {
    array y = matmul(x, transpose(w));
    y.eval();
  }
  set_counters(state, static_cast<double>(w.nbytes()), 2.0 * M * N * K);
}

BENCHMARK(BM_QuantizedMatmul)
    ->ArgNames({"M", "N", "K", "bits"})
    ->Args({1, 512, 2048, 4})
    ->Args({1, 2048, 2048, 4})
    ->Args({1, 2048, 2048, 8})
    ->Args({1, 8192, 2048, 4})
    ->Args({1, 8192, 2048, 8})
    ->Args({1, 65536, 2048, 4})
    ->Args({1, 16384, 8192, 4})
    ->Args({1, 32768, 2048, 8})
    ->Args({1, 8192, 8192, 8})
    ->Args({1, 2048, 2048, 3})
    ->Args({1, 2048, 2048, 6})
    ->Args({8, 2048, 2048, 3})
    ->Args({9, 2048, 2048, 3})
    ->Args({8, 2048, 2048, 6})
    ->Args({9, 2048, 2048, 6})
    ->Args({2, 2048, 2048, 4})
    ->Args({4, 2048, 2048, 4})
    ->Args({8, 2048, 2048, 4})
    ->Args({8, 2048, 2048, 8})
    ->Args({8, 65536, 2048, 4})
    ->Args({8, 16384, 8192, 4})
    ->Args({16, 2048, 2048, 4})
    ->Args({16, 2048, 2048, 8})
    ->Args({24, 2048, 2048, 4})
    ->Args({32, 2048, 2048, 4})
    ->Args({32, 2048, 2048, 8})
    ->Args({64, 2048, 2048, 4})
    ->Args({512, 2048, 2048, 4})
    ->Args({512, 2048, 2048, 8})
    ->Args({512, 8192, 2048, 4})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_Bf16Matmul)
    ->ArgNames({"M", "N", "K"})
    ->Args({1, 2048, 2048})
    ->Args({1, 8192, 2048})
    ->Args({512, 2048, 2048})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
