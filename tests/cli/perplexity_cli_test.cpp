// `tessera perplexity` end to end: the value is checked against the demo model's reference
// logits (models/stories260K/reference_logits.json).
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "cli_util.h"

using namespace tessera::test;

namespace {

// exp(mean NLL) of the prompt's own next tokens under the reference logits.
double reference_ppl(int index, int* tokens) {
  std::ifstream in("models/stories260K/reference_logits.json");
  auto ref = nlohmann::json::parse(in)[index];
  auto ids = ref["prompt_ids"].get<std::vector<int>>();
  auto logits = ref["logits"].get<std::vector<std::vector<double>>>();
  double nll = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    double m = *std::max_element(logits[t].begin(), logits[t].end());
    double z = 0;
    for (double x : logits[t]) z += std::exp(x - m);
    nll += m + std::log(z) - logits[t][ids[t + 1]];
  }
  *tokens = static_cast<int>(ids.size()) - 1;
  return std::exp(nll / (ids.size() - 1));
}

}  // namespace

TEST(PerplexityCli, MatchesTheReferenceLogits) {
  TempDir dir;
  auto ref = demo_references()[0];
  write_file(dir.path() / "data.txt", ref["prompt"].get<std::string>());  // 5 tokens with BOS
  int tokens = 0;
  double want = reference_ppl(0, &tokens);

  auto j = run_cli({"perplexity", "--data", (dir.path() / "data.txt").string(), "--sequence-length", "5", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto out = nlohmann::json::parse(j.out);
  EXPECT_NEAR(out["ppl"].get<double>(), want, 1e-3 * want);
  EXPECT_EQ(out["tokens"].get<int>(), tokens);
  EXPECT_GT(out["stderr"].get<double>(), 0);

  auto t = run_cli({"perplexity", "--data", (dir.path() / "data.txt").string(), "--sequence-length", "5"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(t.out, m, std::regex("Perplexity: ([0-9.]+) \u00b1 ([0-9.]+)\n"))) << t.out;
  EXPECT_NEAR(std::stod(m[1]), want, 2e-3);
}

TEST(PerplexityCli, SplitsLongTextIntoBatches) {
  TempDir dir;
  std::string text;
  for (const auto& ref : demo_references()) text += ref["text"].get<std::string>() + "\n";
  write_file(dir.path() / "data.txt", text);
  auto r = run_cli({"perplexity", "--data", (dir.path() / "data.txt").string(), "--sequence-length", "32",
                    "--batch-size", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = nlohmann::json::parse(r.out);
  int sequences = out["sequences"];
  EXPECT_GE(sequences, 4);
  EXPECT_EQ(out["tokens"].get<int>(), sequences * 31);
  // the model's own greedy stories are easy for it
  EXPECT_GT(out["ppl"].get<double>(), 1.0);
  EXPECT_LT(out["ppl"].get<double>(), 6.0);
}

TEST(PerplexityCli, TooLittleDataIsAnError) {
  TempDir dir;
  write_file(dir.path() / "data.txt", "Once");
  auto r = run_cli({"perplexity", "--data", (dir.path() / "data.txt").string(), "--sequence-length", "64"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("data.txt"), std::string::npos) << r.err;
}
