// tessera lora --grad-checkpoint trains, also when the YAML config asks for it.
#include <gtest/gtest.h>

#include "cli_util.h"

namespace tessera::test {
namespace {

std::vector<std::string> lora_args(const TempDir& dir) {
  return {"lora", "--model", "models/stories260K", "--train", "--data", "tests/fixtures/lora_data", "--iters", "2",
          "--batch-size", "2", "--val-batches", "1", "--steps-per-report", "1", "--adapter-path",
          (dir.path() / "adapters").string()};
}

TEST(GradCheckpointCli, TrainsWithTheFlag) {
  TempDir dir;
  auto args = lora_args(dir);
  args.push_back("--grad-checkpoint");
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("Iter 2: Train loss"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "adapters" / "adapters.safetensors"));
}

TEST(GradCheckpointCli, TrainsWithTheConfigKey) {
  TempDir dir;
  write_file(dir.path() / "config.yaml", "grad_checkpoint: true\n");
  auto args = lora_args(dir);
  args.insert(args.end(), {"-c", (dir.path() / "config.yaml").string()});
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("Iter 2: Train loss"), std::string::npos) << r.out;
}

TEST(GradCheckpointCli, ConfigKeyIsChecked) {
  TempDir dir;
  write_file(dir.path() / "config.yaml", "grad_checkpoint: 3\n");
  auto args = lora_args(dir);
  args.insert(args.end(), {"-c", (dir.path() / "config.yaml").string()});
  auto r = run_cli(args);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'grad_checkpoint' has the wrong type"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera::test
