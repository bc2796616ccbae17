// `tessera template` end to end: runs the built executable on the fixture tokenizers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) {
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return q + "'";
}

class TemplateCommand : public testing::Test {
 protected:
  void SetUp() override {
    exe_ = fs::path(TESSERA_BINARY_DIR) / "tessera";
    if (!fs::exists(exe_)) {
      GTEST_SKIP() << exe_ << " is not built (build the tessera_cli target)";
    }
    std::string pattern = (fs::temp_directory_path() / "tessera-template-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) {
      fs::remove_all(dir_, ec);
    }
  }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }

  Result run(const std::vector<std::string>& args) {
    std::string cmd = quote(exe_.string()) + " template";
    for (const auto& a : args) {
      cmd.append(1, ' ').append(quote(a));
    }
    cmd.append(" > ").append(quote((dir_ / "out").string()));
    cmd.append(" 2> ").append(quote((dir_ / "err").string()));
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir_ / "out"), slurp(dir_ / "err")};
  }

  fs::path exe_, dir_;
};

const std::string kQwen3 = std::string(TESSERA_SOURCE_DIR) + "/tests/fixtures/tokenizers/qwen3";
const std::string kGemma3 = std::string(TESSERA_SOURCE_DIR) + "/tests/fixtures/tokenizers/gemma3";

TEST_F(TemplateCommand, PrintsTheFixtureRenderingExactly) {
  // Every case of chat/qwen3.jsonl that has tools and kwargs exercises all flags.
  std::ifstream cases(std::string(TESSERA_SOURCE_DIR) + "/tests/fixtures/chat/qwen3.jsonl");
  std::string line;
  int checked = 0;
  while (std::getline(cases, line)) {
    auto c = nlohmann::ordered_json::parse(line);
    std::vector<std::string> args = {"--model", kQwen3, "--messages", write("m.json", c["messages"].dump()).string()};
    if (c["add_generation_prompt"].get<bool>()) {
      args.push_back("--add-generation-prompt");
    }
    if (!c["tools"].is_null()) {
      args.push_back("--tools");
      args.push_back(write("t.json", c["tools"].dump()).string());
    }
    if (!c["template_kwargs"].empty()) {
      args.push_back("--chat-template-config");
      args.push_back(c["template_kwargs"].dump());
    }
    Result r = run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, c["rendered"].get<std::string>()) << line;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST_F(TemplateCommand, RaiseExceptionGoesToStderrWithExitCode1) {
  Result r = run({"--model", kGemma3, "--messages",
                  write("m.json", R"([{"role": "assistant", "content": "first"}])").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("Conversation roles must alternate user/assistant/user/assistant/..."), std::string::npos) << r.err;
}

TEST_F(TemplateCommand, SyntaxErrorNamesLineAndColumn) {
  fs::path model = dir_ / "model";
  fs::create_directory(model);
  std::ofstream(model / "chat_template.jinja") << "{% for m in messages %}\n{{ m.content + }}\n{% endfor %}";
  Result r = run({"--model", model.string(), "--messages", write("m.json", "[]").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("line 2, column 16"), std::string::npos) << r.err;
}

TEST_F(TemplateCommand, BadInputIsReported) {
  Result not_json = run({"--model", kQwen3, "--messages", write("bad.json", "[{").string()});
  EXPECT_EQ(not_json.exit_code, 1);
  EXPECT_NE(not_json.err.find("is not valid JSON"), std::string::npos) << not_json.err;

  Result bad_config = run({"--model", kQwen3, "--messages", write("m.json", "[]").string(), "--chat-template-config", "[1]"});
  EXPECT_EQ(bad_config.exit_code, 1);
  EXPECT_NE(bad_config.err.find("must be a JSON object"), std::string::npos) << bad_config.err;

  Result no_template = run({"--model", dir_.string(), "--messages", write("m.json", "[]").string()});
  EXPECT_EQ(no_template.exit_code, 1);
  EXPECT_NE(no_template.err.find("has no chat template"), std::string::npos) << no_template.err;
}

}  // namespace
