// The streaming detokenizer on every fixture line: segments concatenate to decode(ids), and
// each segment is valid UTF-8 on its own.
#include <gtest/gtest.h>

#include "lm/tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace tessera::lm::testing {
namespace {


void expect_streams_like_decode(const Tokenizer& tok, const std::vector<int>& ids,
                                const std::string& label) {
  SCOPED_TRACE(label);
  StreamingDetokenizer detok = tok.detokenizer();
  std::string streamed;
  for (int id : ids) {
    detok.add_token(id);
    std::string segment = detok.last_segment();
    EXPECT_EQ(tokenizer_detail::to_valid_utf8(segment), segment) << "broken UTF-8 after " << id;
    streamed += segment;
  }
  detok.finalize();
  streamed += detok.last_segment();
  EXPECT_EQ(streamed, tok.decode(ids));
  EXPECT_EQ(detok.text(), tok.decode(ids));
  EXPECT_EQ(detok.tokens(), ids);
}

class Detokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(Detokenizer, SegmentsConcatenateToDecodeOnEveryFixtureLine) {
  const std::string name = GetParam();
  Tokenizer tok = load_fixture_tokenizer(name);
  auto lines = read_jsonl(fixtures_dir() + "/tokenizers/" + name + ".jsonl");
  for (size_t k = 0; k < lines.size(); ++k) {
    auto label = name + ".jsonl line " + std::to_string(k + 1);
    expect_streams_like_decode(tok, lines[k]["ids"].get<std::vector<int>>(), label);
    expect_streams_like_decode(tok, lines[k]["ids_with_special"].get<std::vector<int>>(),
                               label + " with special tokens");
  }
}

TEST_P(Detokenizer, HoldsBackIncompleteCharacters) {
  Tokenizer tok = load_fixture_tokenizer(GetParam());
  // A 4-byte emoji usually becomes several byte-level / byte-fallback tokens.
  auto ids = tok.encode("🦙🦙 ok", false);
  StreamingDetokenizer detok = tok.detokenizer();
  for (int id : ids) {
    detok.add_token(id);
    std::string segment = detok.last_segment();
    EXPECT_EQ(tokenizer_detail::to_valid_utf8(segment), segment);
    EXPECT_EQ(segment.find("\xEF\xBF\xBD"), std::string::npos);
  }
  detok.finalize();
  EXPECT_EQ(detok.text(), tok.decode(ids));
}

TEST_P(Detokenizer, FinalizeFlushesATruncatedCharacterAsDecodeDoes) {
  Tokenizer tok = load_fixture_tokenizer(GetParam());
  auto ids = tok.encode("a🦙", false);
  ids.pop_back();  // drop the last piece of the emoji
  StreamingDetokenizer detok = tok.detokenizer();
  for (int id : ids) detok.add_token(id);
  detok.finalize();
  EXPECT_EQ(detok.text(), tok.decode(ids));
}

TEST_P(Detokenizer, ResetStartsOver) {
  Tokenizer tok = load_fixture_tokenizer(GetParam());
  StreamingDetokenizer detok = tok.detokenizer();
  for (int id : tok.encode(" first", false)) detok.add_token(id);
  detok.reset();
  EXPECT_TRUE(detok.tokens().empty());
  EXPECT_EQ(detok.text(), "");
  auto ids = tok.encode("Hello world", false);
  for (int id : ids) detok.add_token(id);
  detok.finalize();
  EXPECT_EQ(detok.last_segment(), tok.decode(ids));
}

TEST_P(Detokenizer, RejectsUnknownIds) {
  Tokenizer tok = load_fixture_tokenizer(GetParam());
  StreamingDetokenizer detok = tok.detokenizer();
  EXPECT_THROW(detok.add_token(-1), std::out_of_range);
  EXPECT_THROW(detok.add_token(static_cast<int>(tok.vocab_size()) + 10), std::out_of_range);
  EXPECT_TRUE(detok.tokens().empty());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Detokenizer, ::testing::ValuesIn(fixture_tokenizer_names()),
                         [](const auto& info) { return info.param; });

TEST(DetokenizerStories, SentencePieceModelStreamsWithLeadingSpaceRule) {
  Tokenizer tok = Tokenizer::from_file("models/stories260K/tokenizer.model");
  auto ids = tok.encode("Once upon a time, there was a cat.", false);
  expect_streams_like_decode(tok, ids, "tokenizer.model");
  StreamingDetokenizer detok = tok.detokenizer();
  detok.add_token(ids[0]);
  EXPECT_EQ(detok.last_segment().substr(0, 1), "O");  // the first token's space is dropped
}

}  // namespace
}  // namespace tessera::lm::testing
