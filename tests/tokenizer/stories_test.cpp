// The demo model's tokenizer, loaded from tokenizer.json and from the SentencePiece
// tokenizer.model, against the prompt ids and texts of its reference generations.
#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

#include "tokenizer_test_util.h"

namespace tessera::lm::testing {
namespace {

const char* kStories = "models/stories260K";

std::vector<nlohmann::json> references() {
  return nlohmann::json::parse(read_file_text(std::string(kStories) + "/reference_greedy.json"))
      .get<std::vector<nlohmann::json>>();
}

TEST(Stories260K, FolderLoadsTokenizerJsonAndConfig) {
  Tokenizer tok = Tokenizer::from_folder(kStories);
  EXPECT_EQ(tok.vocab_size(), 512u);
  EXPECT_EQ(tok.bos_token(), "<s>");
  EXPECT_EQ(tok.eos_token(), "</s>");
  EXPECT_EQ(tok.bos_token_id(), 1);
  EXPECT_EQ(tok.eos_token_ids(), std::vector<int>{2});
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_FALSE(tok.is_special(403));
}

TEST(Stories260K, PromptIdsMatchReference) {
  Tokenizer tok = Tokenizer::from_folder(kStories);
  for (const auto& ref : references()) {
    const std::string prompt = ref["prompt"];
    SCOPED_TRACE(prompt);
    auto prompt_ids = ref["prompt_ids"].get<std::vector<int>>();
    EXPECT_EQ(tok.encode(prompt), prompt_ids);
    std::vector<int> all = prompt_ids;
    for (int id : ref["greedy_ids"].get<std::vector<int>>()) all.push_back(id);
    EXPECT_EQ(tok.decode(all, true), ref["text"].get<std::string>());
    EXPECT_EQ(tok.decode(ref["greedy_ids"].get<std::vector<int>>()),
              ref["completion_text"].get<std::string>());
  }
}

TEST(Stories260K, SentencePieceModelAgreesWithTokenizerJson) {
  Tokenizer json = Tokenizer::from_folder(kStories);
  Tokenizer spm = Tokenizer::from_file(std::string(kStories) + "/tokenizer.model",
                                       std::string(kStories) + "/tokenizer_config.json");
  EXPECT_EQ(spm.vocab_size(), 512u);
  EXPECT_EQ(spm.bos_token_id(), 1);
  EXPECT_EQ(spm.eos_token_ids(), std::vector<int>{2});
  for (const auto& ref : references()) {
    const std::string prompt = ref["prompt"];
    EXPECT_EQ(spm.encode(prompt), ref["prompt_ids"].get<std::vector<int>>()) << prompt;
    EXPECT_EQ(spm.decode(ref["greedy_ids"].get<std::vector<int>>()),
              ref["completion_text"].get<std::string>());
  }
  // (Runs of spaces differ: SentencePiece's own normalizer collapses them.)
  for (const char* text : {"Hello world", "Tim's cat ran.\nThe end!", "ünïcödé 日本 x"}) {
    EXPECT_EQ(spm.encode(text, false), json.encode(text, false)) << text;
  }
  for (int id = 3; id < 512; ++id) EXPECT_EQ(spm.id_to_token(id), json.id_to_token(id));
}

TEST(Stories260K, FolderWithOnlyTokenizerModelUsesSentencePiece) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tessera_spm_only_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(std::string(kStories) + "/tokenizer.model", dir / "tokenizer.model",
                fs::copy_options::overwrite_existing);
  Tokenizer tok = Tokenizer::from_folder(dir.string());
  fs::remove_all(dir);
  EXPECT_EQ(tok.encode("Once upon a time"), (std::vector<int>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok.bos_token(), "<s>");
  EXPECT_FALSE(tok.has_chat_template());
}

}  // namespace
}  // namespace tessera::lm::testing
