// Bad input to the generation commands: a one-line error and exit status 1, never a crash.
#include <gtest/gtest.h>

#include "cli_util.h"

using namespace tessera::test;

namespace {

void expect_one_line_error(const CliResult& r, const std::string& mentions) {
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(mentions), std::string::npos) << r.err;
}

}  // namespace

TEST(BadInputCli, NegativeMaxTokens) {
  expect_one_line_error(run_cli({"generate", "-p", "hi", "--max-tokens", "-1"}), "--max-tokens");
}

TEST(BadInputCli, MissingModelFolder) {
  TempDir dir;
  std::string missing = (dir.path() / "no-such-model").string();
  for (const char* command : {"generate", "chat", "bench"}) {
    expect_one_line_error(run_cli({command, "--model", missing}, "q\n"), "no-such-model");
  }
}

TEST(BadInputCli, MalformedConfig) {
  TempDir dir;
  std::filesystem::copy("models/stories260K", dir.path() / "model", std::filesystem::copy_options::recursive);
  write_file(dir.path() / "model" / "config.json", "{\"model_type\": \"llama\", \"hidden_size\": ");
  expect_one_line_error(run_cli({"generate", "--model", (dir.path() / "model").string(), "-p", "hi"}), "config.json");
}

TEST(BadInputCli, BadFlagValues) {
  expect_one_line_error(run_cli({"generate", "-p", "hi", "--temp", "-2"}), "temp");
  expect_one_line_error(run_cli({"generate", "-p", "hi", "--chat-template-config", "{oops"}), "--chat-template-config");
  expect_one_line_error(run_cli({"generate", "-p", "hi", "--extra-eos-token", "no-such-token-xyz"}), "no-such-token-xyz");
  expect_one_line_error(run_cli({"perplexity", "--data", "/nonexistent/data.txt"}), "/nonexistent/data.txt");
}
