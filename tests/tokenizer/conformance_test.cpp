// Every line of every tokenizers/<name>.jsonl fixture (computed with Hugging Face tokenizers
// 0.23.2) must give the same ids, ids with special tokens, and decodes.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace tessera::lm::testing {
namespace {

class TokenizerConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerConformance, EveryFixtureLineMatches) {
  const std::string name = GetParam();
  Tokenizer tok = load_fixture_tokenizer(name);
  auto lines = read_jsonl(fixtures_dir() + "/tokenizers/" + name + ".jsonl");
  ASSERT_FALSE(lines.empty());
  for (size_t k = 0; k < lines.size(); ++k) {
    const auto& c = lines[k];
    const std::string text = c["text"];
    SCOPED_TRACE(name + ".jsonl line " + std::to_string(k + 1) + ": " + c["text"].dump());
    auto ids = c["ids"].get<std::vector<int>>();
    EXPECT_EQ(tok.encode(text, false), ids);
    EXPECT_EQ(tok.encode(text, true), c["ids_with_special"].get<std::vector<int>>());
    EXPECT_EQ(tok.decode(ids, false), c["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), c["decoded_skip_special"].get<std::string>());
    if (c.contains("tokens")) {
      for (size_t t = 0; t < ids.size() && t < c["tokens"].size(); ++t) {
        EXPECT_EQ(tok.id_to_token(ids[t]), c["tokens"][t].get<std::string>()) << "token " << t;
      }
    }
  }
}

TEST_P(TokenizerConformance, ConfigSpecialTokensResolve) {
  Tokenizer tok = load_fixture_tokenizer(GetParam());
  ASSERT_FALSE(tok.eos_token().empty());
  ASSERT_EQ(tok.eos_token_ids().size(), 1u);
  EXPECT_TRUE(tok.is_special(tok.eos_token_ids()[0]));
  EXPECT_EQ(tok.id_to_token(tok.eos_token_ids()[0]), tok.eos_token());
  if (!tok.bos_token().empty()) {
    ASSERT_TRUE(tok.bos_token_id().has_value());
    EXPECT_EQ(tok.id_to_token(*tok.bos_token_id()), tok.bos_token());
  }
  auto config = nlohmann::json::parse(
      read_file_text(fixtures_dir() + "/tokenizers/" + GetParam() + "/tokenizer_config.json"));
  if (config.contains("chat_template") && config["chat_template"].is_string()) {
    EXPECT_EQ(tok.chat_template(), config["chat_template"].get<std::string>());
  } else {
    EXPECT_FALSE(tok.has_chat_template());
  }
  EXPECT_GT(tok.vocab_size(), 30000u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerConformance,
                         ::testing::ValuesIn(fixture_tokenizer_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera::lm::testing
