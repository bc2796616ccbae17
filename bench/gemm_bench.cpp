// Matrix multiply throughput: the core matmul op (f32 through OpenBLAS, bf16 through the
// AVX512-BF16 kernel), OpenBLAS sgemm called directly, the bf16 kernel called directly, and the
// matrix-vector products of decoding. Counters: FLOPS (2*M*N*K per product) and, for the
// matrix-vector products, bandwidth (weight bytes read per second).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <random>
#include <vector>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/gemv.h"
#include "tessera/half.h"
#include "tessera/ops.h"

namespace {

using tessera::array;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::vector<uint16_t> v(n);
  auto f = random_floats(n, seed);
  for (size_t i = 0; i < n; ++i) v[i] = tessera::detail::float_to_bf16_bits(f[i]);
  return v;
}

void set_flops(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  state.counters["FLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::OneK::kIs1000);
}

// The core op on a [M, K] x [K, N] product; bf16 when state.range(3) is 1.
void BM_matmul_op(benchmark::State& state) {
  int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  tessera::Dtype dtype = state.range(3) ? tessera::bfloat16 : tessera::float32;
  array a = tessera::astype(array(random_floats(M * K, 1), {M, K}), dtype);
  array b = tessera::astype(array(random_floats(K * N, 2), {K, N}), dtype);
  tessera::eval(a, b);
  for (auto _ : state) {
    array c = tessera::matmul(a, b);
    c.eval();
  }
  set_flops(state, M, N, K);
}

void BM_sgemm_openblas(benchmark::State& state) {
  int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  auto a = random_floats(M * K, 1), b = random_floats(K * N, 2);
  std::vector<float> c(M * N);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, M, N, K);
}

// The kernel itself; state.range(3) picks B stored [N, K] (a Linear weight) or [K, N].
void BM_gemm_bf16(benchmark::State& state) {
  int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  bool trans_b = state.range(3) != 0;
  auto a = random_bf16(M * K, 1), b = random_bf16(K * N, 2);
  std::vector<float> c(M * N);
  for (auto _ : state) {
    tessera::cpu::gemm_bf16(trans_b, M, N, K, a.data(), K, b.data(), trans_b ? K : N, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, M, N, K);
}

// Decoding: y = W x with W [N, K] bf16.
void BM_gemv_bf16(benchmark::State& state) {
  int64_t N = state.range(0), K = state.range(1);
  auto w = random_bf16(N * K, 3), x = random_bf16(K, 4);
  std::vector<float> y(N);
  for (auto _ : state) {
    tessera::cpu::gemv_bf16(N, K, w.data(), K, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["bandwidth"] = benchmark::Counter(2.0 * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
  set_flops(state, 1, N, K);
}

void BM_gemv_f32(benchmark::State& state) {
  int64_t N = state.range(0), K = state.range(1);
  auto w = random_floats(N * K, 3), x = random_floats(K, 4);
  std::vector<float> y(N);
  for (auto _ : state) {
    tessera::cpu::gemv_f32(N, K, w.data(), K, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["bandwidth"] = benchmark::Counter(4.0 * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

}  // namespace

BENCHMARK(BM_matmul_op)
    ->ArgNames({"M", "N", "K", "bf16"})
    ->Args({512, 2048, 2048, 0})
    ->Args({512, 2048, 2048, 1})
    ->Args({128, 512, 512, 0})
    ->Args({128, 512, 512, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_sgemm_openblas)->ArgNames({"M", "N", "K"})->Args({512, 2048, 2048})->Args({128, 512, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_gemm_bf16)
    ->ArgNames({"M", "N", "K", "trans_b"})
    ->Args({512, 2048, 2048, 1})
    ->Args({512, 2048, 2048, 0})
    ->Args({512, 8192, 2048, 1})
    ->Args({128, 512, 512, 1})
    ->Args({16, 2048, 2048, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_gemv_bf16)->ArgNames({"N", "K"})->Args({2048, 2048})->Args({8192, 2048})->Args({128256, 2048})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_gemv_f32)->ArgNames({"N", "K"})->Args({2048, 2048})->Args({8192, 2048})->Unit(benchmark::kMicrosecond)->UseRealTime();
