// quantized_matmul with many rows of x (prefill, and the x-gradient of QLoRA training) in
// GFLOP/s, next to the plain matmul of the same shape in the same dtype.
//   build/bench/quantized_prefill_bench [--benchmark_filter=...]
// Names: T is x · W^T (the Linear forward), N is x · W (its gradient w.r.t. x); the weight
// holds N x K elements either way (W [N, K] for T, W [K, N] for N).
#include <benchmark/benchmark.h>

#include <vector>

#include "bench_util.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace {

using namespace tessera;
using bench::random_matrix;

constexpr int kGroupSize = 64;

Dtype dtype_arg(int64_t code) { return code == 16 ? bfloat16 : float32; }

void set_flops(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: M, N, K, bits, transpose, dtype (16 = bfloat16, 32 = float32).
void BM_QuantizedMatmul(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const int bits = static_cast<int>(state.range(3));
  const bool transpose = state.range(4) != 0;
  const Dtype dtype = dtype_arg(state.range(5));
  auto [w, s, b] = quantize(transpose ? random_matrix(N, K, dtype) : random_matrix(K, N, dtype), kGroupSize, bits);
  array x = random_matrix(M, K, dtype);
  eval(w, s, b, x);
  for (auto _ : state) {
    array y = quantized_matmul(x, w, s, b, transpose, kGroupSize, bits);
    y.eval();
  }
  set_flops(state, M, N, K);
}

// Args: M, N, K, transpose, dtype: the unquantized product of the same shape.
void BM_Matmul(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool transpose = state.range(3) != 0;
  const Dtype dtype = dtype_arg(state.range(4));
  array w = transpose ? random_matrix(N, K, dtype) : random_matrix(K, N, dtype);
  array x = random_matrix(M, K, dtype);
  eval(w, x);
  for (auto _ : state) {
    array y = matmul(x, transpose ? tessera::transpose(w) : w);
    y.eval();
  }
  set_flops(state, M, N, K);
}

void quantized_args(benchmark::internal::Benchmark* b) {
  for (int64_t dtype : {16, 32})
    for (int64_t transpose : {1, 0}) {
      for (int64_t bits : {4, 8}) {
        b->Args({512, 2048, 2048, bits, transpose, dtype});
        b->Args({512, 8192, 2048, bits, transpose, dtype});
      }
      b->Args({512, 2048, 8192, 4, transpose, dtype});
      b->Args({512, 2048, 2048, 3, transpose, dtype});
      for (int64_t M : {8, 16, 32, 64}) b->Args({M, 2048, 2048, 4, transpose, dtype});
      b->Args({16, 2048, 2048, 3, transpose, dtype});
    }
  // Around the row counts where x · W^T leaves the float32 few-row kernel (the bit widths
  // without an int8 kernel).
  for (int64_t bits : {2, 3, 5, 6}) {
    for (int64_t M : {1, 4, 8}) b->Args({M, 2048, 2048, bits, 1, 16});
    for (int64_t M : {1, 8, 16, 32}) b->Args({M, 2048, 2048, bits, 1, 32});
  }
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (int64_t dtype : {16, 32})
    for (int64_t transpose : {1, 0}) {
      b->Args({512, 2048, 2048, transpose, dtype});
      b->Args({512, 8192, 2048, transpose, dtype});
      b->Args({512, 2048, 8192, transpose, dtype});
      for (int64_t M : {16, 64}) b->Args({M, 2048, 2048, transpose, dtype});
    }
}

BENCHMARK(BM_QuantizedMatmul)
    ->ArgNames({"M", "N", "K", "bits", "T", "dtype"})
    ->Apply(quantized_args)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_Matmul)
    ->ArgNames({"M", "N", "K", "T", "dtype"})
    ->Apply(matmul_args)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
