// Encoding throughput (MB/s) of the Llama 3.1 and Qwen 3 tokenizers on English prose (the
// Debian license texts) and on C code (/usr/include headers). bench/tokenizer_bench.mjs
// measures Hugging Face's tokenizers (npm) on the same inputs. Needs the tokenizer files that
// scripts/fetch_test_data.sh puts in tests/.data/tokenizers; run from the source root.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tessera/lm/tokenizer.h"

namespace {

namespace fs = std::filesystem;

constexpr size_t kCodeBytes = 1 << 20;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The regular files (not symlinks) of `dir` whose names pass `keep`, sorted, concatenated.
std::string concatenate(const fs::path& dir, bool (*keep)(const fs::path&)) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && !entry.is_symlink() && keep(entry.path())) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& f : files) text += read(f);
  return text;
}

const std::string& english() {
  static const std::string text =
      concatenate("/usr/share/common-licenses", [](const fs::path&) { return true; });
  return text;
}

const std::string& code() {
  static const std::string text = [] {
    std::string all = concatenate("/usr/include", [](const fs::path& p) {
      return p.extension() == ".h";
    });
    if (all.size() > kCodeBytes) all.resize(all.rfind('\n', kCodeBytes) + 1);
    return all;
  }();
  return text;
}

const tessera::lm::Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, tessera::lm::Tokenizer> loaded;
  auto it = loaded.find(name);
  if (it == loaded.end()) {
    it = loaded.emplace(name, tessera::lm::Tokenizer::from_file("tests/.data/tokenizers/" + name +
                                                                "/tokenizer.json"))
             .first;
  }
  return it->second;
}

void encode(benchmark::State& state, const std::string& name, const std::string& (*input)()) {
  const auto& tok = tokenizer(name);
  const std::string& text = input();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text, false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["input_bytes"] = static_cast<double>(text.size());
}

void load(benchmark::State& state, const std::string& name) {
  for (auto _ : state) {
    auto tok = tessera::lm::Tokenizer::from_file("tests/.data/tokenizers/" + name + "/tokenizer.json");
    benchmark::DoNotOptimize(tok.vocab_size());
  }
}

BENCHMARK_CAPTURE(encode, llama3_1_english, "llama3_1", english)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(encode, llama3_1_code, "llama3_1", code)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(encode, qwen3_english, "qwen3", english)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(encode, qwen3_code, "qwen3", code)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(load, llama3_1, "llama3_1")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(load, qwen3, "qwen3")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(load, gemma3, "gemma3")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
