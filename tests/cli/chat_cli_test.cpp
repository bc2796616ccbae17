// `tessera chat` end to end with piped stdin.
#include <gtest/gtest.h>

#include "cli_util.h"

using tessera::test::demo_references;
using tessera::test::run_cli;
using tessera::test::split;

namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(ChatCli, TwoTurnsThenQuit) {
  auto ref = demo_references()[0];
  auto r = run_cli({"chat", "-m", "60"}, "Once upon a time\nThe end\nq\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[INFO] Starting chat session with "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("- 'q' to exit"), std::string::npos);
  auto turns = split(r.out, ">> ");
  ASSERT_EQ(turns.size(), 4u) << r.out;
  // The demo model has no chat template: the first turn is a plain continuation of the text.
  EXPECT_EQ(turns[1], ref["completion_text"].get<std::string>() + "\n");
  // The second continues the transcript and says something.
  EXPECT_GT(turns[2].size(), 2u) << r.out;
  EXPECT_EQ(turns[2].back(), '\n');
  EXPECT_EQ(turns[3], "");
}

TEST(ChatCli, ResetAndHelpCommands) {
  auto ref = demo_references()[1];
  std::string q = ref["prompt"];
  auto r = run_cli({"chat", "-m", "60"}, q + "\nr\nh\n" + q + "\n");  // ends at end of input
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string reply = ref["completion_text"].get<std::string>() + "\n";
  // after a reset the same question gets the same answer
  EXPECT_EQ(count(r.out, reply), 2u) << r.out;
  EXPECT_EQ(count(r.out, "The command list:"), 2u);
}
