// Random and adversarial strings encoded by us and by Hugging Face tokenizers 0.23.2 (the npm
// package's Node bindings, run by hf_reference.mjs) must agree exactly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "tokenizer_test_util.h"

namespace tessera::lm::testing {
namespace {

namespace fs = std::filesystem;

const char* kNodePackage = "tests/.data/node/node_modules/tokenizers/package.json";

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xC0 | (c >> 6));
    out += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += char(0xE0 | (c >> 12));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  } else {
    out += char(0xF0 | (c >> 18));
    out += char(0x80 | ((c >> 12) & 0x3F));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  }
}

std::vector<std::string> adversarial_strings() {
  std::vector<std::string> s = {
      "", " ", "  ", "\n", "\r\n", "\t\t x", "   leading and trailing   ", "a\u0085b\u00A0c\u3000d",
      "x\u2028y\u2029z", "I'M HE'S we'Ll THEY'RE you'VE it'D", "'s's's", "1234567890123",
      "3.14159 1,000,000 ½ ⅓ ٣٤٥ ۶۷ १२३", "<s>", "</s>", "<s><s></s>", " <s> x</s> ",
      "<|im_start|>user\nhi<|im_end|>\n", "<|im_sta", "<|begin_of_text|><|eot_id|>",
      "<start_of_turn>model\n<end_of_turn>", "<bos><eos><pad><unk>", "<|endoftext|>abc",
      "👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽", "e\u0301 n\u0303 A\u030A", "Ǆǅǆ ﬁ ﬀ ① ㌀ Ａｂｃ", "İstanbul ΣΊΣΥΦΟΣ straße",
      "中文字符测试，标点。", "日本語のテキスト", "한국어 텍스트", "עברית مرحبا بالعالم", "ไทย ภาษา",
      "\uE000\uF8FF\U0010FFFD\U000F0000", "\u200B\u200C\u200D\uFEFF", "a\u0000b\u0001c\u001F",
      "~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./", "    def f(x):\n        return x  # c\n\n\n",
      "http://example.com/a?b=c&d=e#f", "email@example.com", "ÿþýüû", "\xC3\x28", "\xFF\xFE\xFD",
      "abc\xE2\x82", "\xF0\x9F\x98", "\xED\xA0\x80 surrogate", "\xC0\xAF overlong",
      "\xF4\x90\x80\x80 too big", std::string(300, 'a'), std::string(200, ' ') + "x",
      std::string(100, '\n'), "ab" + std::string(50, '!') + "cd"};
  std::string long_word;
  for (int k = 0; k < 40; ++k) long_word += "supercalifragilistic";
  s.push_back(long_word);
  return s;
}

std::vector<std::string> random_strings(size_t count) {
  // Characters from many scripts and categories; assigned code points only, so that the
  // Unicode versions of the two regex engines agree.
  static const std::vector<std::pair<char32_t, char32_t>> kRanges = {
      {0x20, 0x7E},     {0x20, 0x7E},     {0x20, 0x7E},     {0x61, 0x7A},   {0x09, 0x0D},
      {0xA0, 0xFF},     {0x100, 0x17F},   {0x300, 0x36F},   {0x391, 0x3C9}, {0x410, 0x44F},
      {0x5D0, 0x5EA},   {0x627, 0x64A},   {0x660, 0x669},   {0x905, 0x939}, {0xE01, 0xE2E},
      {0x2000, 0x200A}, {0x2010, 0x2027}, {0x3041, 0x3096}, {0x4E00, 0x4FFF}, {0xAC00, 0xAD00},
      {0xFF01, 0xFF5E}, {0x1F600, 0x1F64F}, {0x1F300, 0x1F3FF}};
  std::mt19937 rng(12345);
  std::vector<std::string> out;
  for (size_t k = 0; k < count; ++k) {
    std::string s;
    size_t length = rng() % 40;
    for (size_t i = 0; i < length; ++i) {
      const auto& [lo, hi] = kRanges[rng() % kRanges.size()];
      append_utf8(s, lo + rng() % (hi - lo + 1));
    }
    out.push_back(s);
  }
  return out;
}

class Differential : public ::testing::TestWithParam<std::string> {};

TEST_P(Differential, MatchesHuggingFaceTokenizers) {
  if (!fs::exists(kNodePackage) || std::system("node --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "node or " << kNodePackage << " missing: run scripts/fetch_test_data.sh";
  }
  const std::string name = GetParam();
  std::string file = name == "stories260K" ? "models/stories260K/tokenizer.json"
                                           : tokenizer_file(name);
  ASSERT_FALSE(file.empty()) << "no tokenizer.json for " << name;
  Tokenizer tok = Tokenizer::from_file(file);

  std::vector<std::string> inputs = adversarial_strings();
  for (auto& s : random_strings(300)) inputs.push_back(std::move(s));
  nlohmann::json encoded = nlohmann::json::array();
  for (const auto& s : inputs) encoded.push_back(base64(s));

  fs::path dir = fs::temp_directory_path() / ("tessera_tok_diff_" + name + "_" +
                                              std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.json") << encoded.dump();
  std::string command = "node tests/tokenizer/hf_reference.mjs '" + file + "' '" +
                        (dir / "in.json").string() + "' '" + (dir / "out.json").string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  auto expected = nlohmann::json::parse(read_file_text((dir / "out.json").string()));
  fs::remove_all(dir);
  ASSERT_EQ(expected.size(), inputs.size());

  for (size_t k = 0; k < inputs.size(); ++k) {
    SCOPED_TRACE("input " + std::to_string(k) + ": " +
                 nlohmann::json(std::string(inputs[k])).dump(-1, ' ', false,
                                                             nlohmann::json::error_handler_t::replace));
    auto ids = expected[k]["ids"].get<std::vector<int>>();
    ASSERT_EQ(tok.encode(inputs[k], false), ids);
    EXPECT_EQ(tok.encode(inputs[k], true), expected[k]["ids_with_special"].get<std::vector<int>>());
    EXPECT_EQ(tok.decode(ids, false), expected[k]["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), expected[k]["decoded_skip_special"].get<std::string>());
  }
}

std::vector<std::string> differential_names() {
  auto names = fixture_tokenizer_names();
  names.push_back("stories260K");
  return names;
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Differential, ::testing::ValuesIn(differential_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera::lm::testing
