// One token's sampling over a Llama-3 vocabulary (128,256 logits): the filters' cost per
// generated token, next to greedy argmax (with the log-softmax a single sequence reports, and
// alone, as a greedy batch takes it). Args: top_p x 100 (100: off), top_k (0: off), min_p x 100
// (0: off).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "tessera/lm/sample.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace {

using tessera::array;

constexpr int kVocab = 128256;

void BM_sample(benchmark::State& state) {
  tessera::lm::SamplerOptions options;
  options.temp = 0.7f;
  options.top_p = static_cast<float>(state.range(0)) / 100.0f;
  options.top_k = static_cast<int>(state.range(1));
  options.min_p = static_cast<float>(state.range(2)) / 100.0f;
  tessera::lm::Sampler sampler(options, 1);
  array logits = tessera::random::normal({1, kVocab}, tessera::float32, 0.0f, 3.0f, tessera::random::key(1));
  logits.eval();
  for (auto _ : state) sampler.sample(sampler.logprobs(logits, {})).eval();
}

void BM_greedy(benchmark::State& state) {
  tessera::lm::Sampler sampler({}, 1);
  array logits = tessera::random::normal({1, kVocab}, tessera::float32, 0.0f, 3.0f, tessera::random::key(1));
  logits.eval();
  for (auto _ : state) sampler.sample(sampler.logprobs(logits, {})).eval();
}

// argmax alone over `rows` rows of logits: what a greedy batch samples with.
void BM_argmax(benchmark::State& state) {
  const int64_t rows = state.range(0);
  array logits = tessera::random::normal({rows, kVocab}, tessera::float32, 0.0f, 3.0f, tessera::random::key(1));
  logits.eval();
  for (auto _ : state) tessera::argmax(logits, -1).eval();
}

}  // namespace

BENCHMARK(BM_greedy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_argmax)->ArgName("rows")->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sample)
    ->ArgNames({"top_p", "top_k", "min_p"})
    ->Args({100, 0, 0})
    ->Args({90, 0, 0})
    ->Args({100, 40, 0})
    ->Args({100, 0, 5})
    ->Args({90, 40, 5})
    ->Unit(benchmark::kMicrosecond);
