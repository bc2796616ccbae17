// `tessera bench` end to end (speed is not asserted: only the report's shape).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "cli_util.h"

using namespace tessera::test;

namespace {

// The fraction of the bandwidth limit: each tg run's tokens/s times the bytes a token reads over
// the bandwidth probed next to that run, averaged over the runs.
double expected_fraction(const nlohmann::json& j, double per_token) {
  const auto tps = j["tg_tps_all"].get<std::vector<double>>();
  const auto bandwidth = j["tg_read_bandwidth_all"].get<std::vector<double>>();
  EXPECT_EQ(tps.size(), bandwidth.size());
  double sum = 0;
  for (size_t i = 0; i < tps.size(); ++i) sum += tps[i] * per_token / bandwidth[i];
  return sum / static_cast<double>(tps.size());
}

}  // namespace

TEST(BenchCli, JsonLineHasTheDesignFields) {
  auto r = run_cli({"bench", "-p", "16", "-n", "8", "-r", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"model", "dtype_or_bits", "threads", "n_prompt", "n_gen", "pp_tps", "tg_tps", "pp_tps_all",
                          "tg_tps_all", "weights_bytes", "n_params", "peak_memory_bytes", "device", "load_seconds",
                          "read_bandwidth_bytes_per_s", "tg_read_bandwidth_all", "tg_bandwidth_fraction"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["model"], "stories260K");
  EXPECT_EQ(j["dtype_or_bits"], "float32");
  EXPECT_EQ(j["n_prompt"], 16);
  EXPECT_EQ(j["n_gen"], 8);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["pp_tps_all"].size(), 2u);
  EXPECT_EQ(j["tg_tps_all"].size(), 2u);
  EXPECT_GT(j["pp_tps"].get<double>(), 0);
  EXPECT_GT(j["tg_tps"].get<double>(), 0);
  // 260,032 float32 parameters
  EXPECT_EQ(j["weights_bytes"].get<size_t>(), 260032u * 4);
  EXPECT_EQ(j["n_params"].get<size_t>(), 260032u);
  // Any machine streams memory faster than 100 MB/s, probed next to each tg run; the reported
  // bandwidth is the largest probe.
  const auto probes = j["tg_read_bandwidth_all"].get<std::vector<double>>();
  ASSERT_EQ(probes.size(), 2u);
  for (double b : probes) EXPECT_GT(b, 1e8);
  EXPECT_EQ(j["read_bandwidth_bytes_per_s"].get<double>(), std::max(probes[0], probes[1]));
  EXPECT_NEAR(j["tg_bandwidth_fraction"].get<double>(), expected_fraction(j, 260032.0 * 4), 1e-9);
  EXPECT_GE(j["threads"].get<int>(), 1);
}

TEST(BenchCli, TableLikeLlamaBench) {
  auto r = run_cli({"bench", "-p", "8", "-n", "4", "-r", "1", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pp8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("load time"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of the bandwidth limit"), std::string::npos) << r.out;
}

// -d: every test starts from a cache already holding that many tokens, and what a generated token
// reads includes the cache up to the tg test's average position.
TEST(BenchCli, DepthStartsEachTestFromAFilledCache) {
  auto r = run_cli({"bench", "-p", "4", "-n", "4", "-d", "40", "-r", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n_depth"], 40);
  // Keys and values of 5 layers, 4 heads of 8 float32 each.
  EXPECT_EQ(j["cache_bytes_per_token"].get<size_t>(), 2u * 5 * 4 * 8 * 4);
  const double per_token = 260032.0 * 4 + 2.0 * 5 * 4 * 8 * 4 * (40 + 2.5);
  EXPECT_NEAR(j["tg_bandwidth_fraction"].get<double>(), expected_fraction(j, per_token), 1e-9);
  auto table = run_cli({"bench", "-p", "4", "-n", "4", "-d", "40", "-r", "1"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("pp4 @ d40"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("tg4 @ d40"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("GB of it cache"), std::string::npos) << table.out;
  auto bad = run_cli({"bench", "-p", "4", "-n", "4", "-d", "-1"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("-d"), std::string::npos) << bad.err;
}

// A mixed-precision model is labelled with the widths its quantized layers use.
TEST(BenchCli, MixedQuantizationLabelsItsWidths) {
  TempDir dir;
  const std::string out = (dir.path() / "mixed").string();
  auto c = run_cli({"convert", "--hf-path", "models/stories260K", "--mlx-path", out, "-q", "--q-group-size", "32",
                    "--quant-predicate", "mixed_3_6"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto r = run_cli({"bench", "--model", out, "-p", "4", "-n", "2", "-r", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["dtype_or_bits"], "3/6bit");
}
