// Prompt-processing and generation speed, measured the way llama-bench does: pp = a prompt of
// n_prompt random tokens into an empty cache up to the next token's logits; tg = n_gen tokens
// decoded one at a time from an empty cache.
#pragma once

#include "tessera/lm/model.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::lm {

struct BenchOptions {
  int n_prompt = 512;
  int n_gen = 128;
  int repetitions = 3;
  int n_depth = 0;    // tokens the cache holds before each test (llama-bench's -d)
  uint64_t seed = 0;  // for the random token ids
  // Where set, called right before and right after every tg test: the memory bandwidth at that
  // moment in bytes per second (a machine's bandwidth can drift within a run).
  std::function<double()> measure_bandwidth;
};

struct BenchResult {
  std::vector<double> pp_tps;  // one per repetition (empty when n_prompt == 0)
  std::vector<double> tg_tps;  // one per repetition (empty when n_gen == 0)
  // Per tg test, the larger of the bandwidths measured right before and right after it (empty
  // without measure_bandwidth).
  std::vector<double> tg_bandwidth;
  size_t peak_memory_bytes = 0;
  size_t cache_bytes_per_token = 0;  // of the KV cache: what attention reads per cached token
};

BenchResult benchmark(Model& model, const BenchOptions& options);

// Bytes of all parameters (what one decoded token must read).
size_t weights_bytes(const Model& model);

double mean(const std::vector<double>& values);
double stddev(const std::vector<double>& values);  // sample standard deviation (ddof 1)

}  // namespace tessera::lm
