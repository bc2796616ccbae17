// The peak rate of the dot-product instructions that the decode layout's products are built on,
// per thread: the ceiling against which their GMAC/s are read. vdpbf16ps (32 bfloat16 products
// per instruction) carries the exact 4-bit products of bfloat16 x; vpdpbusd (64 uint8 x int8)
// the int8 terms of x, two per element within float tolerance, one per element as llama.cpp's
// Q8_0 activations. Sixteen independent accumulators hide each instruction's latency and the
// operands stay in registers, so only the issue rate is measured. Counter: multiply-adds per
// second per thread (with one thread per core, the machine's rate is that times the threads).
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>

// GCC 12's AVX-512 reductions start from _mm512_undefined_*(), which -Wuninitialized reports once
// inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define TESSERA_DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx512bf16")))

namespace {

constexpr int kChains = 16;
constexpr int64_t kRounds = 4096;

bool has_avx512_bf16() {
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512bf16");
}

// kRounds x kChains instructions; returns bits of the sums, to keep them.
template <bool kBf16>
TESSERA_DOT_TARGET __attribute__((noinline)) int run(char a_byte, char b_byte) {
  __m512i a = _mm512_set1_epi8(a_byte), b = _mm512_set1_epi8(b_byte);
  // Opaque to the compiler, and a changes every round: nothing is folded or hoisted.
  asm volatile("" : "+v"(a), "+v"(b));
  __m512i acc[kChains];
  for (auto& v : acc) v = _mm512_setzero_si512();
  for (int64_t n = 0; n < kRounds; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) {
      if constexpr (kBf16)
        acc[i] = _mm512_castps_si512(_mm512_dpbf16_ps(_mm512_castsi512_ps(acc[i]), (__m512bh)a, (__m512bh)b));
      else
        acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    }
    a = _mm512_add_epi8(a, b);
  }
  __m512i bits = acc[0];
  for (int i = 1; i < kChains; ++i) bits = _mm512_xor_si512(bits, acc[i]);
  return _mm512_reduce_add_epi32(bits);
}

template <bool kBf16>
void measure(benchmark::State& state) {
  if (!has_avx512_bf16()) {
    state.SkipWithError("needs AVX-512 BF16 and VNNI");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(run<kBf16>(3, 5));
  const int64_t macs_per_instruction = kBf16 ? 32 : 64;
  state.counters["MAC_per_thread"] =
      benchmark::Counter(static_cast<double>(kRounds * kChains * macs_per_instruction) * state.iterations(),
                         benchmark::Counter::kAvgThreadsRate, benchmark::Counter::OneK::kIs1000);
}

void BM_vdpbf16ps(benchmark::State& state) { measure<true>(state); }
void BM_vpdpbusd(benchmark::State& state) { measure<false>(state); }

}  // namespace

BENCHMARK(BM_vdpbf16ps)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_vpdpbusd)->ThreadRange(1, 2)->UseRealTime();
