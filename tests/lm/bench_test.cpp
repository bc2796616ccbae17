// lm::benchmark: one result per repetition and test, and the bandwidth probed next to every tg
// run (the larger of the probes right before and right after it).
#include <gtest/gtest.h>

#include <vector>

#include "tessera/lm/bench.h"
#include "tessera/lm/lm.h"

namespace tessera::lm {
namespace {

BenchOptions run_options(int n_prompt, int n_gen, int repetitions) {
  BenchOptions options;
  options.n_prompt = n_prompt;
  options.n_gen = n_gen;
  options.repetitions = repetitions;
  return options;
}

TEST(Benchmark, ProbesTheBandwidthRightBeforeAndAfterEveryGenerationRun) {
  LoadedModel loaded = load("models/stories260K");
  BenchOptions options = run_options(8, 4, 3);
  // Probe readings in call order: runs see (1, 5), (2, 0.5), (7, 7).
  const std::vector<double> readings = {1.0, 5.0, 2.0, 0.5, 7.0, 7.0};
  size_t calls = 0;
  options.measure_bandwidth = [&] { return readings.at(calls++); };
  BenchResult r = benchmark(*loaded.model, options);
  EXPECT_EQ(calls, readings.size());
  EXPECT_EQ(r.pp_tps.size(), 3u);
  ASSERT_EQ(r.tg_tps.size(), 3u);
  EXPECT_EQ(r.tg_bandwidth, (std::vector<double>{5.0, 2.0, 7.0}));
  for (double tps : r.tg_tps) EXPECT_GT(tps, 0.0);
}

TEST(Benchmark, WithoutAProbeRecordsNoBandwidth) {
  LoadedModel loaded = load("models/stories260K");
  BenchResult r = benchmark(*loaded.model, run_options(0, 2, 2));
  EXPECT_TRUE(r.pp_tps.empty());
  EXPECT_EQ(r.tg_tps.size(), 2u);
  EXPECT_TRUE(r.tg_bandwidth.empty());
}

}  // namespace
}  // namespace tessera::lm
