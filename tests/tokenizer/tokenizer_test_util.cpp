#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

namespace tessera::lm::testing {

namespace fs = std::filesystem;

std::string fixtures_dir() {
  const char* env = std::getenv("TESSERA_FIXTURES_DIR");
  return env && *env ? env : "tests/fixtures";
}

std::vector<std::string> fixture_tokenizer_names() {
  std::vector<std::string> names;
  fs::path dir = fs::path(fixtures_dir()) / "tokenizers";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".jsonl") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string tokenizer_file(const std::string& name) {
  fs::path fixture = fs::path(fixtures_dir()) / "tokenizers" / name;
  for (const fs::path& candidate :
       {fs::path("tests/.data/tokenizers") / name / "tokenizer.json", fixture / "tokenizer.json",
        fixture / "tokenizer.json.gz"}) {
    if (fs::exists(candidate)) return candidate.string();
  }
  return "";
}

Tokenizer load_fixture_tokenizer(const std::string& name) {
  // Loaded once per test binary: copies share the vocabulary.
  static std::map<std::string, Tokenizer> loaded;
  if (auto it = loaded.find(name); it != loaded.end()) return it->second;
  std::string file = tokenizer_file(name);
  if (file.empty()) {
    throw std::runtime_error("no tokenizer.json for fixture '" + name +
                             "': run scripts/fetch_test_data.sh");
  }
  fs::path config = fs::path(fixtures_dir()) / "tokenizers" / name / "tokenizer_config.json";
  return loaded.emplace(name, Tokenizer::from_file(file, fs::exists(config) ? config.string() : ""))
      .first->second;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace tessera::lm::testing
