// Malformed files, unsupported pipeline parts, invalid text and ids: clear errors, no crashes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <unistd.h>

#include "tokenizer_test_util.h"

namespace tessera::lm::testing {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("tessera_tok_bad_" + std::to_string(::getpid()) +
                                                 "_" + std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// A small valid tokenizer.json with one section replaced.
std::string tiny_tokenizer(const std::string& section = "", const std::string& value = "") {
  nlohmann::json root = nlohmann::json::parse(R"({
    "version": "1.0", "added_tokens": [{"id": 0, "content": "<s>", "special": true,
      "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}],
    "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
    "decoder": {"type": "Fuse"},
    "model": {"type": "BPE", "vocab": {"<s>": 0, "a": 1, "b": 2, "ab": 3},
              "merges": ["a b"]}})");
  if (!section.empty()) root[section] = nlohmann::json::parse(value);
  return root.dump();
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    for (const auto& needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
          << "'" << e.what() << "' should mention '" << needle << "'";
    }
  }
}

TEST(TokenizerBadInput, TinyTokenizerWorks) {
  TempDir dir;
  Tokenizer tok = Tokenizer::from_file(dir.write("tokenizer.json", tiny_tokenizer()));
  EXPECT_EQ(tok.encode("ab a b <s>ba"), (std::vector<int>{3, 1, 2, 0, 2, 1}));
  EXPECT_EQ(tok.decode({3, 0, 1}), "ab<s>a");
  EXPECT_EQ(tok.decode({3, 0, 1}, true), "aba");
}

TEST(TokenizerBadInput, MalformedJsonNamesFileAndOffset) {
  TempDir dir;
  std::string file = dir.write("tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 1,}}");
  expect_error([&] { Tokenizer::from_file(file); }, {file, "malformed JSON", "byte"});
  std::string truncated = dir.write("t2.json", tiny_tokenizer().substr(0, 100));
  expect_error([&] { Tokenizer::from_file(truncated); }, {truncated, "malformed JSON"});
  std::string deep = dir.write("deep.json", "{\"model\": " + std::string(100000, '[') + "]}");
  expect_error([&] { Tokenizer::from_file(deep); }, {deep, "nesting too deep"});
  std::string config = dir.write("tokenizer_config.json", "{\"bos_token\": ");
  std::string good = dir.write("tokenizer.json", tiny_tokenizer());
  expect_error([&] { Tokenizer::from_file(good, config); }, {config, "malformed JSON"});
}

TEST(TokenizerBadInput, UnknownTypesAreNamed) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model", R"({"type": "Mystery", "vocab": {}})"},
      {"normalizer", R"({"type": "Precompiled", "precompiled_charsmap": ""})"},
      {"pre_tokenizer", R"({"type": "UnicodeScripts"})"},
      {"decoder", R"({"type": "CTC"})"},
      {"post_processor", R"({"type": "Wobbly"})"},
      {"pre_tokenizer", R"({"type": "Sequence", "pretokenizers": [{"type": "Nope"}]})"},
  };
  for (const auto& [section, value] : cases) {
    std::string file = dir.write("tokenizer.json", tiny_tokenizer(section, value));
    std::string type = nlohmann::json::parse(value)["type"];
    if (type == "Sequence") type = "Nope";
    expect_error([&] { Tokenizer::from_file(file); }, {file, section, "'" + type + "'"});
  }
}

TEST(TokenizerBadInput, BadRegexAndBehaviorAreReported) {
  TempDir dir;
  std::string file = dir.write(
      "tokenizer.json", tiny_tokenizer("pre_tokenizer", R"({"type": "Split", "pattern":
        {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false})"));
  expect_error([&] { Tokenizer::from_file(file); }, {file, "(unclosed"});
  file = dir.write("tokenizer.json", tiny_tokenizer("pre_tokenizer", R"({"type": "Split",
        "pattern": {"String": "x"}, "behavior": "Sideways", "invert": false})"));
  expect_error([&] { Tokenizer::from_file(file); }, {file, "Sideways"});
}

TEST(TokenizerBadInput, MergeOutsideVocabIsReported) {
  TempDir dir;
  std::string file = dir.write("tokenizer.json", tiny_tokenizer("model", R"({"type": "BPE",
      "vocab": {"a": 0, "b": 1}, "merges": [["a", "c"]]})"));
  expect_error([&] { Tokenizer::from_file(file); }, {file, "not in the vocab"});
}

TEST(TokenizerBadInput, MissingFilesAndFolders) {
  TempDir dir;
  expect_error([&] { Tokenizer::from_file(dir.path() + "/nope.json"); }, {"nope.json"});
  expect_error([&] { Tokenizer::from_folder(dir.path()); }, {dir.path(), "tokenizer.json"});
  expect_error([&] { Tokenizer::from_folder(dir.path() + "/absent"); }, {"absent"});
  std::string not_gzip = dir.write("tokenizer.json.gz", "this is not gzip data at all");
  expect_error([&] { Tokenizer::from_file(not_gzip); }, {not_gzip});
  std::string bad_model = dir.write("tokenizer.model", "not a sentencepiece model");
  expect_error([&] { Tokenizer::from_file(bad_model); }, {bad_model});
}

TEST(TokenizerBadInput, InvalidUtf8IsReplacedNotFatal) {
  Tokenizer tok = load_fixture_tokenizer(fixture_tokenizer_names().front());
  const std::string replaced = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD" "c\xEF\xBF\xBD";
  EXPECT_EQ(tok.encode("a\xC3" "b\xFF\xFE" "c\xE2\x82"), tok.encode(replaced));
  EXPECT_EQ(tok.encode(std::string("\x00\x80\xC0\xF5", 4)),
            tok.encode(std::string("\x00", 1) + "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
}

TEST(TokenizerBadInput, IdsOutOfRangeNameTheId) {
  Tokenizer tok = load_fixture_tokenizer(fixture_tokenizer_names().front());
  int too_big = static_cast<int>(tok.vocab_size()) + 5;
  try {
    tok.decode({1, too_big});
    ADD_FAILURE() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(too_big)), std::string::npos);
  }
  EXPECT_THROW(tok.decode({-3}), std::out_of_range);
  EXPECT_THROW(tok.id_to_token(too_big), std::out_of_range);
  EXPECT_FALSE(tok.token_to_id("definitely not a token \x01\x02").has_value());
}

TEST(TokenizerConfig, SpecialTokenFormsAndChatTemplates) {
  TempDir dir;
  dir.write("tokenizer.json", tiny_tokenizer());
  dir.write("tokenizer_config.json", R"({"bos_token": {"content": "<s>", "lstrip": false},
      "eos_token": "<s>", "chat_template": [{"name": "tool_use", "template": "T"},
      {"name": "default", "template": "D{{ x }}"}]})");
  Tokenizer tok = Tokenizer::from_folder(dir.path());
  EXPECT_EQ(tok.bos_token(), "<s>");
  EXPECT_EQ(tok.bos_token_id(), 0);
  EXPECT_EQ(tok.eos_token_ids(), std::vector<int>{0});
  EXPECT_EQ(tok.chat_template(), "D{{ x }}");
  dir.write("chat_template.jinja", "from jinja file");
  EXPECT_EQ(Tokenizer::from_folder(dir.path()).chat_template(), "from jinja file");
}

TEST(TokenizerConfig, AddBosAndEosApplyWithoutPostProcessor) {
  TempDir dir;
  std::string file = dir.write("tokenizer.json", tiny_tokenizer());
  std::string config = dir.write("tokenizer_config.json",
                                 R"({"bos_token": "<s>", "eos_token": "b", "add_bos_token": true,
                                     "add_eos_token": true})");
  Tokenizer tok = Tokenizer::from_file(file, config);
  EXPECT_EQ(tok.encode("ab"), (std::vector<int>{0, 3, 2}));
  EXPECT_EQ(tok.encode("ab", false), std::vector<int>{3});
}

TEST(TokenizerConfig, GzipFileLoads) {
  TempDir dir;
  std::string path = dir.path() + "/tokenizer.json.gz";
  gzFile f = gzopen(path.c_str(), "wb");
  std::string json = tiny_tokenizer();
  gzwrite(f, json.data(), static_cast<unsigned>(json.size()));
  gzclose(f);
  EXPECT_EQ(Tokenizer::from_file(path).encode("ab"), std::vector<int>{3});
  EXPECT_EQ(Tokenizer::from_folder(dir.path()).encode("ab"), std::vector<int>{3});
}

TEST(TokenizerCopies, ShareStateAndWorkAcrossThreads) {
  Tokenizer tok = load_fixture_tokenizer(fixture_tokenizer_names().back());
  const std::string text = "Threads share one tokenizer: déjà vu, 12345, 🦙!";
  const auto expected = tok.encode(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Tokenizer copy = tok;
      bool all = true;
      for (int k = 0; k < 50; ++k) all = all && copy.encode(text) == expected;
      ok[static_cast<size_t>(t)] = all;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

}  // namespace
}  // namespace tessera::lm::testing
