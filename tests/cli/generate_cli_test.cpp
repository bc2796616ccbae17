// `tessera generate` end to end on the demo model.
#include <gtest/gtest.h>

#include <regex>

#include "cli_util.h"

using tessera::test::demo_references;
using tessera::test::run_cli;

TEST(GenerateCli, PrintsTheReferenceCompletionLikeMlxLm) {
  auto ref = demo_references()[0];
  auto r = run_cli({"generate", "--prompt", "Once upon a time", "--temp", "0", "-m", "60"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string head = "==========\n" + ref["completion_text"].get<std::string>() + "\n==========\n";
  ASSERT_EQ(r.out.substr(0, head.size()), head) << r.out;
  std::string tail = r.out.substr(head.size());
  EXPECT_TRUE(std::regex_match(tail, std::regex("Prompt: 5 tokens, [0-9]+\\.[0-9]{3} tokens-per-sec\n"
                                                "Generation: 60 tokens, [0-9]+\\.[0-9]{3} tokens-per-sec\n"
                                                "Peak memory: [0-9]+\\.[0-9]{3} GB\n")))
      << tail;
}

TEST(GenerateCli, DefaultRunContinuesTheReference) {
  // The README's first command: the default model and max tokens.
  auto ref = demo_references()[0];
  auto r = run_cli({"generate", "--prompt", "Once upon a time", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string head = "==========\n" + ref["completion_text"].get<std::string>();
  EXPECT_EQ(r.out.substr(0, head.size()), head);
  EXPECT_NE(r.out.find("Generation: 256 tokens"), std::string::npos) << r.out;
}

TEST(GenerateCli, QuietOutputIsOnlyTheText) {
  auto ref = demo_references()[1];
  auto r = run_cli({"generate", "-p", ref["prompt"], "-m", "60", "--verbose", "false"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ref["completion_text"].get<std::string>() + "\n");
}

TEST(GenerateCli, PromptFromStdin) {
  auto ref = demo_references()[2];
  auto r = run_cli({"generate", "--prompt", "-", "-m", "60", "--verbose", "false"}, ref["prompt"]);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ref["completion_text"].get<std::string>() + "\n");
}

TEST(GenerateCli, ExtraEosTokenStopsEarly) {
  auto ref = demo_references()[0];
  // "." first appears as the 12th generated token: "..., there was a little girl named Lily"
  std::string full = ref["completion_text"];
  auto r = run_cli({"generate", "-p", ref["prompt"], "-m", "60", "--verbose", "false", "--extra-eos-token", "."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, full.substr(0, full.find('.')) + "\n");
}

TEST(GenerateCli, SeededSamplingIsReproducible) {
  std::vector<std::string> args = {"generate", "-p", "Once upon a time", "-m", "40", "--temp", "0.8",
                                   "--top-p",  "0.9", "--seed", "3", "--verbose", "false"};
  auto a = run_cli(args);
  auto b = run_cli(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_GT(a.out.size(), 20u);
}

TEST(GenerateCli, MaxKvSize) {
  auto ref = demo_references()[0];
  // A window larger than prompt + completion changes nothing.
  auto r = run_cli({"generate", "-p", ref["prompt"], "-m", "60", "--max-kv-size", "100", "--verbose", "false"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ref["completion_text"].get<std::string>() + "\n");
  // A small one keeps generating past it.
  auto small = run_cli({"generate", "-p", ref["prompt"], "-m", "80", "--max-kv-size", "16"});
  ASSERT_EQ(small.exit_code, 0) << small.err;
  EXPECT_NE(small.out.find("Generation: 80 tokens"), std::string::npos) << small.out;
  auto bad = run_cli({"generate", "-p", ref["prompt"], "--max-kv-size", "3"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--max-kv-size"), std::string::npos) << bad.err;
}
