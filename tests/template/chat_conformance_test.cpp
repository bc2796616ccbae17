// Renders every case of chat/<name>.jsonl under the fixture root with the chat_template of
// tokenizers/<name>/tokenizer_config.json and compares with transformers' output.
#include "tessera/lm/chat_template.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using tessera::lm::ChatTemplate;

fs::path fixtures_root() {
  const char* env = std::getenv("TESSERA_FIXTURES_DIR");
  return env && *env ? fs::path(env) : fs::path("tests/fixtures");
}

std::vector<fs::path> chat_fixture_files() {
  std::vector<fs::path> files;
  const fs::path dir = fixtures_root() / "chat";
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".jsonl") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ChatFixture : public testing::TestWithParam<fs::path> {};

TEST_P(ChatFixture, EveryCaseRendersLikeTransformers) {
  const fs::path file = GetParam();
  const std::string name = file.stem().string();
  const fs::path tokenizer_dir = fixtures_root() / "tokenizers" / name;
  ASSERT_TRUE(fs::exists(tokenizer_dir / "tokenizer_config.json")) << tokenizer_dir;
  const ChatTemplate chat = ChatTemplate::from_folder(tokenizer_dir.string());
  ASSERT_FALSE(chat.empty()) << name << " has no chat template";

  std::ifstream in(file);
  std::string line;
  int line_number = 0, cases = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) {
      continue;
    }
    ++cases;
    const ordered_json c = ordered_json::parse(line);
    const ordered_json kwargs = c.value("template_kwargs", ordered_json::object());
    SCOPED_TRACE(file.string() + ":" + std::to_string(line_number));
    if (c.contains("error")) {
      try {
        std::string rendered = chat.apply(c["messages"], c["tools"], c["add_generation_prompt"].get<bool>(), kwargs);
        ADD_FAILURE() << "expected the error \"" << c["error_message"].get<std::string>() << "\", rendered:\n" << rendered;
      } catch (const tessera::jinja::RaisedError& e) {
        EXPECT_EQ(std::string(e.what()), c["error_message"].get<std::string>());
      }
      continue;
    }
    EXPECT_EQ(chat.apply(c["messages"], c["tools"], c["add_generation_prompt"].get<bool>(), kwargs),
              c["rendered"].get<std::string>());
  }
  EXPECT_GT(cases, 0) << file << " has no cases";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChatFixture, testing::ValuesIn(chat_fixture_files()),
                         [](const testing::TestParamInfo<fs::path>& info) { return info.param.stem().string(); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ChatFixture);

TEST(ChatFixtures, AreFound) {
  EXPECT_FALSE(chat_fixture_files().empty()) << "no chat/*.jsonl under " << fixtures_root();
}

}  // namespace
