// ChatTemplate: where the template and special tokens come from, and the variables it passes.
#include "tessera/lm/chat_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using tessera::lm::ChatTemplate;
using testing::HasSubstr;

class ChatTemplateFolder : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tessera-chat-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name, std::ios::binary) << text; }
  std::string dir() const { return dir_.string(); }

  fs::path dir_;
};

const ordered_json kHello = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");

TEST_F(ChatTemplateFolder, ReadsTokenizerConfigStringTemplateAndTokens) {
  write("tokenizer_config.json", R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
      "unk_token": "<unk>", "pad_token": null,
      "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}{{ unk_token }}[{{ pad_token }}]"})");
  ChatTemplate chat = ChatTemplate::from_folder(dir());
  ASSERT_FALSE(chat.empty());
  EXPECT_EQ(chat.apply(kHello, nullptr, false, ordered_json::object()), "<s>hi</s><unk>[]");
}

TEST_F(ChatTemplateFolder, PicksTheDefaultOfANamedTemplateList) {
  write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "tools"},
      {"name": "default", "template": "default {{ messages|length }}"}]})");
  EXPECT_EQ(ChatTemplate::from_folder(dir()).apply(kHello, nullptr, false, ordered_json::object()), "default 1");
}

TEST_F(ChatTemplateFolder, ChatTemplateJinjaFileWins) {
  write("tokenizer_config.json", R"({"eos_token": "E", "chat_template": "from config"})");
  write("chat_template.jinja", "from file {{ eos_token }}\n");
  EXPECT_EQ(ChatTemplate::from_folder(dir()).apply(kHello, nullptr, false, ordered_json::object()), "from file E");
}

TEST_F(ChatTemplateFolder, NoTemplateGivesAnEmptyChatTemplate) {
  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  ChatTemplate chat = ChatTemplate::from_folder(dir());
  EXPECT_TRUE(chat.empty());
  EXPECT_THROW(chat.apply(kHello, nullptr, false, ordered_json::object()), std::runtime_error);
}

TEST_F(ChatTemplateFolder, MalformedConfigNamesTheFile) {
  write("tokenizer_config.json", R"({"chat_template": )");
  try {
    ChatTemplate::from_folder(dir());
    FAIL() << "no error for malformed JSON";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tokenizer_config.json: invalid JSON"));
  }
  write("tokenizer_config.json", R"({"chat_template": 5})");
  EXPECT_THROW(ChatTemplate::from_folder(dir()), std::runtime_error);
  write("tokenizer_config.json", R"({"chat_template": [{"name": "other", "template": "x"}]})");
  EXPECT_THROW(ChatTemplate::from_folder(dir()), std::runtime_error);
}

TEST_F(ChatTemplateFolder, TemplateSyntaxErrorNamesTheFolderLineAndColumn) {
  write("chat_template.jinja", "ok\n{% if %}");
  try {
    ChatTemplate::from_folder(dir());
    FAIL() << "no syntax error";
  } catch (const tessera::jinja::TemplateError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir()));
    EXPECT_THAT(e.what(), HasSubstr("line 2, column 7"));
  }
}

TEST(ChatTemplate, PassesTransformersVariables) {
  ChatTemplate chat(
      "{{ messages[0].role }}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|{{ bos_token }}|{{ eos_token }}|"
      "{{ enable_thinking }}|{{ custom.k }}",
      "<s>", "</s>");
  ordered_json kwargs = {{"enable_thinking", false}, {"custom", {{"k", 1.5}}}};
  EXPECT_EQ(chat.apply(kHello, nullptr, true, kwargs), "user|None|None|True|<s>|</s>|False|1.5");
  ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "f", "b": 1, "a": 2}}])");
  EXPECT_EQ(ChatTemplate("{{ tools|tojson }}", "", "").apply(kHello, tools, false, ordered_json::object()),
            R"([{"type": "function", "function": {"name": "f", "b": 1, "a": 2}}])");
}

TEST(ChatTemplate, KwargsOverrideBuiltinVariablesAndUnsetTokensAreUndefined) {
  ChatTemplate chat("{{ bos_token is defined }}{{ eos_token }}{{ add_generation_prompt }}", "", "</s>");
  EXPECT_EQ(chat.apply(kHello, nullptr, false, ordered_json{{"add_generation_prompt", "kw"}}), "False</s>kw");
}

TEST(ChatTemplate, RejectsMalformedArguments) {
  ChatTemplate chat("x", "", "");
  EXPECT_THROW(chat.apply(ordered_json::object(), nullptr, false, ordered_json::object()), std::runtime_error);
  EXPECT_THROW(chat.apply(kHello, ordered_json::object(), false, ordered_json::object()), std::runtime_error);
  EXPECT_THROW(chat.apply(kHello, nullptr, false, ordered_json::array()), std::runtime_error);
}

}  // namespace
