// Random and adversarial strings encoded by us and by Hugging Face tokenizers 0.23.2 (the npm
// package's Node bindings, run by hf_reference.mjs) must agree exactly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "lm/tokenizer/json_util.h"
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

bool reference_available() {
  return fs::exists(kNodePackage) && std::system("node --version > /dev/null 2>&1") == 0;
}

// Encodes and decodes `inputs` with our tokenizer for `file` and with Hugging Face's.
void expect_same_as_reference(const std::string& file, const std::string& label,
                              const std::vector<std::string>& inputs) {
  Tokenizer tok = Tokenizer::from_file(file);
  nlohmann::json encoded = nlohmann::json::array();
  for (const auto& s : inputs) encoded.push_back(base64(s));

  fs::path dir = fs::temp_directory_path() /
                 ("tessera_tok_diff_" + label + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.json") << encoded.dump();
  std::string command = "node tests/tokenizer/hf_reference.mjs '" + file + "' '" +
                        (dir / "in.json").string() + "' '" + (dir / "out.json").string() + "'";
  int status = std::system(command.c_str());
  auto expected = status == 0 ? nlohmann::json::parse(read_file_text((dir / "out.json").string()))
                              : nlohmann::json();
  fs::remove_all(dir);
  ASSERT_EQ(status, 0) << command;
  ASSERT_EQ(expected.size(), inputs.size());

  for (size_t k = 0; k < inputs.size(); ++k) {
    SCOPED_TRACE(label + " input " + std::to_string(k) + ": " +
                 nlohmann::json(inputs[k]).dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace));
    auto ids = expected[k]["ids"].get<std::vector<int>>();
    ASSERT_EQ(tok.encode(inputs[k], false), ids);
    EXPECT_EQ(tok.encode(inputs[k], true), expected[k]["ids_with_special"].get<std::vector<int>>());
    EXPECT_EQ(tok.decode(ids, false), expected[k]["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), expected[k]["decoded_skip_special"].get<std::string>());
  }
}

class Differential : public ::testing::TestWithParam<std::string> {};

TEST_P(Differential, MatchesHuggingFaceTokenizers) {
  if (!reference_available()) {
    GTEST_SKIP() << "node or " << kNodePackage << " missing: run scripts/fetch_test_data.sh";
  }
  const std::string name = GetParam();
  std::string file = name == "stories260K" ? "models/stories260K/tokenizer.json"
                                           : tokenizer_file(name);
  ASSERT_FALSE(file.empty()) << "no tokenizer.json for " << name;
  std::vector<std::string> inputs = adversarial_strings();
  for (auto& s : random_strings(300)) inputs.push_back(std::move(s));
  expect_same_as_reference(file, name, inputs);
}

std::vector<std::string> differential_names() {
  auto names = fixture_tokenizer_names();
  names.push_back("stories260K");
  return names;
}

// Pipelines built from the Llama 2 (SentencePiece-style BPE with byte fallback) and Qwen 3
// (byte-level BPE) vocabularies with other normalizers, pre-tokenizers, decoders,
// post-processors and added tokens, each checked against the reference.
struct Variant {
  std::string name;
  std::string base;  // fixture tokenizer whose model is used
  nlohmann::json changes;  // top-level sections replaced
  nlohmann::json extra_added_tokens = nlohmann::json::array();
  // Replaces the BPE model by a WordPiece model over the same vocabulary.
  bool wordpiece = false;
};

void PrintTo(const Variant& variant, std::ostream* os) {
  *os << variant.name;
}

nlohmann::json parse(const char* text) {
  return nlohmann::json::parse(text);
}

std::vector<Variant> variants() {
  const char* metaspace_decoder =
      R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Metaspace",
          "replacement": "\u2581", "prepend_scheme": "always", "split": true}]})";
  std::vector<Variant> v = {
      {"metaspace_first", "llama2", parse(R"({"normalizer": null, "pre_tokenizer": {"type":
          "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": true}})")},
      {"metaspace_always_unsplit", "llama2", parse(R"({"normalizer": null, "pre_tokenizer":
          {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
           "split": false}})")},
      {"metaspace_never", "llama2", parse(R"({"normalizer": null, "pre_tokenizer": {"type":
          "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": true},
          "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never",
          "split": true}})")},
      {"digits_punctuation", "llama2", parse(R"({"pre_tokenizer": {"type": "Sequence",
          "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "Punctuation",
          "behavior": "Isolated"}]}})")},
      {"digits_contiguous", "llama2", parse(R"({"pre_tokenizer": {"type": "Digits",
          "individual_digits": false}})")},
      {"punctuation_merged_previous", "llama2", parse(R"({"pre_tokenizer": {"type":
          "Punctuation", "behavior": "MergedWithPrevious"}})")},
      {"punctuation_merged_next", "llama2", parse(R"({"pre_tokenizer": {"type": "Punctuation",
          "behavior": "MergedWithNext"}})")},
      {"punctuation_contiguous", "llama2", parse(R"({"pre_tokenizer": {"type": "Punctuation",
          "behavior": "Contiguous"}})")},
      {"punctuation_removed", "llama2", parse(R"({"pre_tokenizer": {"type": "Punctuation",
          "behavior": "Removed"}})")},
      {"whitespace", "llama2", parse(R"({"normalizer": null, "pre_tokenizer":
          {"type": "Whitespace"}})")},
      {"whitespace_split", "llama2", parse(R"({"normalizer": null, "pre_tokenizer":
          {"type": "WhitespaceSplit"}})")},
      {"bert_pre_tokenizer", "llama2", parse(R"({"normalizer": null, "pre_tokenizer":
          {"type": "BertPreTokenizer"}, "decoder": {"type": "WordPiece", "prefix": "##",
          "cleanup": true}, "post_processor": {"type": "BertProcessing", "sep": ["</s>", 2],
          "cls": ["<s>", 1]}})")},
      {"split_regex_removed", "llama2", parse(R"({"pre_tokenizer": {"type": "Split", "pattern":
          {"Regex": "\\s+|\\d"}, "behavior": "Removed", "invert": false}})")},
      {"split_regex_inverted", "llama2", parse(R"({"pre_tokenizer": {"type": "Split", "pattern":
          {"Regex": "\\p{L}+"}, "behavior": "Removed", "invert": true}})")},
      {"split_regex_merged_next", "llama2", parse(R"({"pre_tokenizer": {"type": "Split",
          "pattern": {"Regex": "[,.!?]"}, "behavior": "MergedWithNext", "invert": false}})")},
      {"split_regex_contiguous", "llama2", parse(R"({"pre_tokenizer": {"type": "Split",
          "pattern": {"Regex": "\\s"}, "behavior": "Contiguous", "invert": false}})")},
      {"split_empty_matches", "llama2", parse(R"({"pre_tokenizer": {"type": "Split",
          "pattern": {"Regex": "a*"}, "behavior": "MergedWithPrevious", "invert": false}})")},
      {"split_regex_anchors_words", "llama2", parse(R"({"pre_tokenizer": {"type": "Split",
          "pattern": {"Regex": "^ +| +$|\\w+|[^\\w\\s]"}, "behavior": "Isolated",
          "invert": false}})")},
      {"split_regex_non_words", "llama2", parse(R"({"pre_tokenizer": {"type": "Split",
          "pattern": {"Regex": "\\W+|\\S\\b"}, "behavior": "MergedWithPrevious",
          "invert": false}})")},
      {"split_string", "llama2", parse(R"({"pre_tokenizer": {"type": "Split", "pattern":
          {"String": "ab"}, "behavior": "Isolated", "invert": false}})")},
      {"normalizer_chain", "llama2", parse(R"({"normalizer": {"type": "Sequence",
          "normalizers": [{"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
          {"type": "Strip", "strip_left": true, "strip_right": true}, {"type": "Replace",
          "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Prepend", "prepend":
          "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}})")},
      {"normalizer_nfkc", "llama2", parse(R"({"normalizer": {"type": "Sequence", "normalizers":
          [{"type": "NFKC"}, {"type": "Replace", "pattern": {"String": " "}, "content":
          "\u2581"}]}})")},
      {"normalizer_nfd_strip_right", "llama2", parse(R"({"normalizer": {"type": "Sequence",
          "normalizers": [{"type": "NFD"}, {"type": "Strip", "strip_left": false,
          "strip_right": true}, {"type": "Replace", "pattern": {"String": " "}, "content":
          "\u2581"}]}})")},
      {"decoder_strip_replace_regex", "llama2", parse(R"({"decoder": {"type": "Sequence",
          "decoders": [{"type": "Replace", "pattern": {"Regex": "\u2581+"}, "content": " "},
          {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ",
          "start": 2, "stop": 0}]}})")},
      {"decoder_bpe_suffix", "llama2", parse(R"({"decoder": {"type": "BPEDecoder",
          "suffix": "s"}})")},
      {"no_decoder_roberta", "llama2", parse(R"({"decoder": null, "post_processor":
          {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1],
          "trim_offsets": true, "add_prefix_space": true}})")},
      {"template_sequence", "llama2", parse(R"({"post_processor": {"type": "Sequence",
          "processors": [{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false,
          "use_regex": true}, {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id":
          "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken":
          {"id": "</s>", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}},
          {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<s>": {"id": "<s>",
          "ids": [1], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [2], "tokens":
          ["</s>"]}}}]}})")},
      {"added_token_options", "llama2", parse(R"({})"), parse(R"([
          {"id": 32000, "content": "<tool>", "single_word": false, "lstrip": true,
           "rstrip": false, "normalized": false, "special": true},
          {"id": 32001, "content": "</tool>", "single_word": false, "lstrip": false,
           "rstrip": true, "normalized": false, "special": true},
          {"id": 32002, "content": "word", "single_word": true, "lstrip": false,
           "rstrip": false, "normalized": false, "special": false},
          {"id": 32003, "content": "Hello there", "single_word": false, "lstrip": false,
           "rstrip": false, "normalized": true, "special": false},
          {"id": 32004, "content": "<tool_call>", "single_word": false, "lstrip": true,
           "rstrip": true, "normalized": false, "special": false}])")},
      {"byte_level_gpt2", "qwen3", parse(R"({"normalizer": {"type": "Lowercase"},
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
          "use_regex": true}, "decoder": {"type": "ByteLevel", "add_prefix_space": true,
          "trim_offsets": true, "use_regex": true}})")},
      {"bert_wordpiece", "llama2", parse(R"({"normalizer": {"type": "BertNormalizer",
          "clean_text": true, "handle_chinese_chars": true, "strip_accents": null,
          "lowercase": true}, "pre_tokenizer": {"type": "BertPreTokenizer"}, "decoder":
          {"type": "WordPiece", "prefix": "##", "cleanup": true}})"), nlohmann::json::array(),
       true},
      {"wordpiece_cased", "llama2", parse(R"({"normalizer": {"type": "BertNormalizer",
          "clean_text": false, "handle_chinese_chars": false, "strip_accents": true,
          "lowercase": false}, "pre_tokenizer": {"type": "WhitespaceSplit"}})"),
       nlohmann::json::array(), true},
      {"byte_level_normalizer", "qwen3", parse(R"({"normalizer": {"type": "ByteLevel"},
          "pre_tokenizer": null, "decoder": {"type": "ByteLevel", "add_prefix_space": false,
          "trim_offsets": false, "use_regex": false}})")},
  };
  v[0].changes["decoder"] = parse(metaspace_decoder);
  v[1].changes["decoder"] = parse(metaspace_decoder);
  return v;
}

class PipelineVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(PipelineVariant, MatchesHuggingFaceTokenizers) {
  if (!reference_available()) {
    GTEST_SKIP() << "node or " << kNodePackage << " missing: run scripts/fetch_test_data.sh";
  }
  const Variant& variant = GetParam();
  std::string base = tokenizer_file(variant.base);
  ASSERT_FALSE(base.empty()) << "no tokenizer.json for " << variant.base;
  auto root = nlohmann::json::parse(tokenizer_detail::read_file(base));
  for (const auto& [key, value] : variant.changes.items()) root[key] = value;
  for (const auto& token : variant.extra_added_tokens) root["added_tokens"].push_back(token);
  if (variant.wordpiece) {
    root["model"] = {{"type", "WordPiece"}, {"unk_token", "<unk>"},
                     {"continuing_subword_prefix", "##"}, {"max_input_chars_per_word", 20},
                     {"vocab", root["model"]["vocab"]}};
  }

  fs::path file = fs::temp_directory_path() /
                  ("tessera_tok_variant_" + variant.name + "_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << root.dump();
  std::vector<std::string> inputs = adversarial_strings();
  for (auto& s : random_strings(120)) inputs.push_back(std::move(s));
  for (const char* s : {"a <tool> b</tool>  c", "  <tool>x", "</tool>   y", "word words sword word",
                        "(word) word-word", "Hello there Hello  there", "x<tool_call>  y",
                        "<tool><tool></tool>", "aab abab ba", "1 22 333 a1b2"}) {
    inputs.push_back(s);
  }
  expect_same_as_reference(file.string(), variant.name, inputs);
  fs::remove(file);
}

INSTANTIATE_TEST_SUITE_P(Variants, PipelineVariant, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(Tokenizers, Differential, ::testing::ValuesIn(differential_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera::lm::testing
