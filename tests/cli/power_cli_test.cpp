// `tessera cache_prompt` and the generation power flags of `tessera generate`, end to end on
// the demo model.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_util.h"

namespace fs = std::filesystem;
using tessera::test::read_file;
using tessera::test::run_cli;
using tessera::test::TempDir;
using tessera::test::write_file;

namespace {

const std::string kPrefix = "Once upon a time, there was a little girl named Lily. She loved to play outside";
const std::string kQuestion = " in the park. One day";

// A copy of the demo model in `dir`, optionally with its tokenizer.json changed by one byte
// (the same vocabulary, another file).
std::string copy_demo(const fs::path& dir, bool touch_tokenizer) {
  fs::path out = dir / "model";
  fs::create_directories(out);
  for (const auto& entry : fs::directory_iterator("models/stories260K")) {
    if (entry.is_regular_file()) fs::copy_file(entry.path(), out / entry.path().filename());
  }
  if (touch_tokenizer) write_file(out / "tokenizer.json", read_file(out / "tokenizer.json") + "\n");
  return out.string();
}

}  // namespace

TEST(PowerCli, CachedPromptContinuesLikeTheFullPrompt) {
  TempDir dir;
  std::string cache = (dir.path() / "prefix.safetensors").string();
  auto made = run_cli({"cache_prompt", "--prompt", kPrefix, "--prompt-cache-file", cache});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("Saved the KV cache of"), std::string::npos) << made.out;
  ASSERT_TRUE(fs::exists(cache));

  auto full = run_cli({"generate", "--prompt", kPrefix + kQuestion, "-m", "40", "--verbose", "false"});
  auto cached = run_cli({"generate", "--prompt-cache-file", cache, "--prompt", kQuestion, "-m", "40", "--verbose",
                         "false"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  ASSERT_EQ(cached.exit_code, 0) << cached.err;
  EXPECT_EQ(cached.out, full.out);
  EXPECT_GT(full.out.size(), 20u);
}

TEST(PowerCli, ModelComesFromTheCacheWhenNotGiven) {
  TempDir dir;
  std::string model = copy_demo(dir.path(), false);
  std::string cache = (dir.path() / "c.safetensors").string();
  ASSERT_EQ(run_cli({"cache_prompt", "--model", model, "-p", kPrefix, "--prompt-cache-file", cache}).exit_code, 0);
  auto ok = run_cli({"generate", "--prompt-cache-file", cache, "-p", kQuestion, "-m", "5"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  fs::remove_all(model);
  auto gone = run_cli({"generate", "--prompt-cache-file", cache, "-p", kQuestion, "-m", "5"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find(model), std::string::npos) << gone.err;
}

TEST(PowerCli, CacheOfAnotherTokenizerIsRefused) {
  TempDir dir;
  std::string other = copy_demo(dir.path(), true);
  std::string cache = (dir.path() / "c.safetensors").string();
  ASSERT_EQ(run_cli({"cache_prompt", "-p", kPrefix, "--prompt-cache-file", cache}).exit_code, 0);
  auto r = run_cli({"generate", "--model", other, "--prompt-cache-file", cache, "-p", kQuestion});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("another tokenizer"), std::string::npos) << r.err;
  EXPECT_EQ(tessera::test::count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(PowerCli, MissingOrCorruptCacheFileIsOneLineError) {
  TempDir dir;
  auto missing = run_cli({"generate", "--prompt-cache-file", (dir.path() / "none.safetensors").string(), "-p", "x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none.safetensors"), std::string::npos) << missing.err;
  EXPECT_EQ(tessera::test::count_lines(missing.err), 1) << missing.err;

  write_file(dir.path() / "bad.safetensors", "not a safetensors file at all");
  auto corrupt = run_cli({"generate", "--prompt-cache-file", (dir.path() / "bad.safetensors").string(), "-p", "x"});
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.err.find("bad.safetensors"), std::string::npos) << corrupt.err;
  EXPECT_EQ(tessera::test::count_lines(corrupt.err), 1) << corrupt.err;
}

TEST(PowerCli, DraftModelKeepsTheGreedyOutput) {
  auto plain = run_cli({"generate", "-p", "Once upon a time", "-m", "50", "--verbose", "false"});
  auto drafted = run_cli({"generate", "-p", "Once upon a time", "-m", "50", "--verbose", "false", "--draft-model",
                          "models/stories260K", "--num-draft-tokens", "2"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(drafted.exit_code, 0) << drafted.err;
  EXPECT_EQ(drafted.out, plain.out);
  for (const char* k : {"0", "15"}) {
    auto bad = run_cli({"generate", "-p", "Once", "--draft-model", "models/stories260K", "--num-draft-tokens", k});
    EXPECT_EQ(bad.exit_code, 1) << k;
    EXPECT_NE(bad.err.find("--num-draft-tokens must be between 1 and 14"), std::string::npos) << bad.err;
  }
}

TEST(PowerCli, DraftOfAnotherVocabularyIsOneLineError) {
  TempDir dir;
  std::string other = copy_demo(dir.path(), false);
  fs::remove(fs::path(other) / "tokenizer.model");
  write_file(fs::path(other) / "tokenizer.json",
             R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,)"
             R"("decoder":null,"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})");
  auto r = run_cli({"generate", "-p", "Once upon a time", "--draft-model", other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("another vocabulary"), std::string::npos) << r.err;
  EXPECT_EQ(tessera::test::count_lines(r.err), 1) << r.err;
}

TEST(PowerCli, PromptsFilePrintsEachResultWithItsIndex) {
  TempDir dir;
  std::vector<std::string> prompts = {"Once upon a time", "The cat", "Lily had a red ball. She", "Tom and"};
  std::string text;
  for (const auto& p : prompts) text += p + "\n";
  write_file(dir.path() / "prompts.txt", text);
  auto r = run_cli({"generate", "--prompts-file", (dir.path() / "prompts.txt").string(), "-m", "30", "--batch-size",
                    "3", "--verbose", "false"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto single = run_cli({"generate", "-p", prompts[i], "-m", "30", "--verbose", "false"});
    ASSERT_EQ(single.exit_code, 0) << single.err;
    expected.append("[").append(std::to_string(i)).append("] ").append(single.out);
  }
  EXPECT_EQ(r.out, expected);

  auto missing = run_cli({"generate", "--prompts-file", (dir.path() / "none.txt").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none.txt"), std::string::npos) << missing.err;
}

TEST(PowerCli, QuantizedKvCacheFlags) {
  auto plain = run_cli({"generate", "-p", "Once upon a time", "-m", "100", "--verbose", "false"});
  auto q8 = run_cli({"generate", "-p", "Once upon a time", "-m", "100", "--verbose", "false", "--kv-bits", "8",
                     "--kv-group-size", "4"});
  ASSERT_EQ(q8.exit_code, 0) << q8.err;
  EXPECT_EQ(q8.out, plain.out);

  TempDir dir;
  std::string cache = (dir.path() / "q.safetensors").string();
  auto made = run_cli({"cache_prompt", "-p", kPrefix, "--prompt-cache-file", cache, "--kv-bits", "8",
                       "--kv-group-size", "4"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto cached = run_cli({"generate", "--prompt-cache-file", cache, "-p", kQuestion, "-m", "20"});
  EXPECT_EQ(cached.exit_code, 0) << cached.err;

  auto five = run_cli({"generate", "-p", "x", "--kv-bits", "5"});
  EXPECT_EQ(five.exit_code, 1);
  EXPECT_NE(five.err.find("4 or 8 bits, got 5"), std::string::npos) << five.err;
  EXPECT_EQ(tessera::test::count_lines(five.err), 1) << five.err;
  auto group = run_cli({"generate", "-p", "x", "--kv-bits", "4"});
  EXPECT_EQ(group.exit_code, 1);
  EXPECT_NE(group.err.find("--kv-group-size"), std::string::npos) << group.err;
}

// --int8-activations on generate, bench and perplexity: a quantized model takes it (the demo model's rows of
// 64 are under 16 groups, so its products stay exact and the text is unchanged); a float model is
// a one-line error.
TEST(PowerCli, Int8ActivationsFlag) {
  TempDir dir;
  const std::string q4 = (dir.path() / "q4").string();
  auto converted = run_cli({"convert", "--hf-path", "models/stories260K", "--mlx-path", q4, "-q", "--q-group-size",
                            "32"});
  ASSERT_EQ(converted.exit_code, 0) << converted.err;
  auto exact = run_cli({"generate", "--model", q4, "-p", "Once upon a time", "-m", "30", "--verbose", "false"});
  auto rounded = run_cli({"generate", "--model", q4, "-p", "Once upon a time", "-m", "30", "--verbose", "false",
                          "--int8-activations"});
  ASSERT_EQ(rounded.exit_code, 0) << rounded.err;
  EXPECT_EQ(rounded.out, exact.out);
  auto bench = run_cli({"bench", "--model", q4, "-p", "8", "-n", "4", "-r", "1", "--int8-activations"});
  EXPECT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_NE(bench.out.find("| 4bit a8 "), std::string::npos) << bench.out;
  auto ppl = run_cli({"perplexity", "--model", q4, "--data", "bench/data/stories.txt", "--sequence-length", "64",
                      "--int8-activations"});
  EXPECT_EQ(ppl.exit_code, 0) << ppl.err;

  auto float_model = run_cli({"generate", "-p", "x", "--int8-activations"});
  EXPECT_EQ(float_model.exit_code, 1);
  EXPECT_NE(float_model.err.find("int8 activations need a quantized model"), std::string::npos) << float_model.err;
  EXPECT_EQ(tessera::test::count_lines(float_model.err), 1) << float_model.err;
}
