// generate and chat through a chat template: the demo model with a small template added.
#include <gtest/gtest.h>

#include "cli_util.h"

using namespace tessera::test;

namespace {

// "role: content" lines, then "assistant:" to prompt the reply.
const char* kTemplate =
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}";

class TemplatedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = (dir_.path() / "model").string();
    std::filesystem::copy("models/stories260K", model_, std::filesystem::copy_options::recursive);
    write_file(std::filesystem::path(model_) / "chat_template.jinja", kTemplate);
  }
  // Greedy text for a prompt given without the template (the BOS comes from the tokenizer).
  std::string raw(const std::string& prompt) {
    auto r = run_cli({"generate", "--model", model_, "--ignore-chat-template", "-p", prompt, "-m", "20", "--verbose",
                      "false"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  TempDir dir_;
  std::string model_;
};

}  // namespace

TEST_F(TemplatedModel, GenerateRendersSystemAndUserMessages) {
  auto r = run_cli({"generate", "--model", model_, "--system-prompt", "Be kind", "-p", "Once upon a time", "-m", "20",
                    "--verbose", "false"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, raw("system: Be kind\nuser: Once upon a time\nassistant:"));
}

TEST_F(TemplatedModel, ChatKeepsTheHistoryInTheTemplate) {
  auto r = run_cli({"chat", "--model", model_, "-m", "20"}, "Once upon a time\nLily\nq\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto turns = split(r.out, ">> ");
  ASSERT_EQ(turns.size(), 4u) << r.out;
  std::string first = turns[1].substr(0, turns[1].size() - 1);  // without the newline chat adds
  EXPECT_EQ(turns[1], raw("user: Once upon a time\nassistant:"));
  EXPECT_EQ(turns[2], raw("user: Once upon a time\nassistant: " + first + "\nuser: Lily\nassistant:"));
}
