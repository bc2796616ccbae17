#include "tessera/lm/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

#include "forward.h"
#include "tessera/lm/prompt_cache.h"
#include "tessera/memory.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int> random_tokens(int n, int vocab, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  std::vector<int> ids(n);
  for (auto& id : ids) id = pick(rng);
  return ids;
}

// Bytes the cache holds per token (keys and values of every layer).
size_t cache_bytes_per_token(const Cache& cache) {
  size_t bytes = 0;
  for (const auto& layer : cache) {
    for (const auto& a : layer->state()) bytes += a.nbytes();
  }
  return cache.empty() || cache[0]->offset() == 0 ? 0 : bytes / static_cast<size_t>(cache[0]->offset());
}

// The prompt into the cache, up to the logits of the next token (as generation does it: all but
// the last token only fill the cache).
double time_prompt(Model& model, const std::vector<int>& ids, Cache& cache) {
  auto start = Clock::now();
  detail::prefill(model, ids.data(), ids.size() - 1, cache, static_cast<int>(ids.size()));
  array logits = detail::last_logits(model(detail::token_batch(&ids.back(), 1), &cache));
  eval(logits);
  return seconds_since(start);
}

// n tokens decoded greedily one at a time on top of the cache.
double time_generation(Model& model, int first_token, int n, Cache& cache) {
  int token = first_token;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    array next = argmax(detail::last_logits(model(detail::token_batch(&token, 1), &cache)), -1);
    token = next.item<int>();
  }
  return seconds_since(start);
}

}  // namespace

BenchResult benchmark(Model& model, const BenchOptions& options) {
  if (options.n_prompt < 0 || options.n_gen < 0 || options.repetitions < 1 || options.n_depth < 0) {
    throw std::invalid_argument("[bench] Need n_prompt >= 0, n_gen >= 0, n_depth >= 0 and repetitions >= 1.");
  }
  std::mt19937_64 rng(options.seed);
  const int vocab = model.vocab_size();
  {
    // Warm-up: touches every weight page and starts the worker threads.
    Cache warm = model.make_cache();
    time_generation(model, random_tokens(1, vocab, rng)[0], 2, warm);
  }
  // The context every test starts from: an empty cache, or one filled once with n_depth tokens
  // and trimmed back to them after each test.
  Cache context = model.make_cache();
  if (options.n_depth > 0) {
    const std::vector<int> ids = random_tokens(options.n_depth, vocab, rng);
    detail::prefill(model, ids.data(), ids.size(), context, 2048);
  }
  auto run = [&](auto&& test, int tokens) {
    Cache fresh;
    Cache& cache = options.n_depth > 0 ? context : (fresh = model.make_cache());
    const double seconds = test(cache);
    if (options.n_depth > 0 && trim_prompt_cache(cache, tokens) != tokens) {
      throw std::invalid_argument("[bench] This model's cache cannot be trimmed back to the -d context.");
    }
    return tokens / seconds;
  };
  BenchResult result;
  for (int r = 0; r < options.repetitions; ++r) {
    if (options.n_prompt > 0) {
      const std::vector<int> ids = random_tokens(options.n_prompt, vocab, rng);
      result.pp_tps.push_back(run([&](Cache& c) { return time_prompt(model, ids, c); }, options.n_prompt));
    }
    if (options.n_gen > 0) {
      const int first = random_tokens(1, vocab, rng)[0];
      const double before = options.measure_bandwidth ? options.measure_bandwidth() : 0.0;
      result.tg_tps.push_back(run([&](Cache& c) { return time_generation(model, first, options.n_gen, c); }, options.n_gen));
      if (options.measure_bandwidth) result.tg_bandwidth.push_back(std::max(before, options.measure_bandwidth()));
    }
  }
  result.peak_memory_bytes = get_peak_memory();
  if (options.n_depth > 0) result.cache_bytes_per_token = cache_bytes_per_token(context);
  return result;
}

size_t weights_bytes(const Model& model) {
  size_t total = 0;
  for (const auto& [name, p] : model.parameters()) total += p.nbytes();
  return total;
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double stddev(const std::vector<double>& values) {
  if (values.size() < 2) return 0;
  double m = mean(values);
  double squares = 0;
  for (double v : values) squares += (v - m) * (v - m);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

}  // namespace tessera::lm
