// Chat-template speed: parsing the Qwen3 template, and rendering a tool-calling conversation
// with the template parsed once (the path every chat request takes).
// Run from the source root: build/bench/template_bench
#include "tessera/lm/chat_template.h"

#include <benchmark/benchmark.h>

#include <fstream>
#include <stdexcept>
#include <string>

namespace {

using nlohmann::ordered_json;

const char* kQwen3 = "tests/fixtures/tokenizers/qwen3";

// The longest qwen3 fixture case with tools: a multi-turn tool-calling conversation.
ordered_json tool_calling_case() {
  std::ifstream in("tests/fixtures/chat/qwen3.jsonl");
  std::string line;
  ordered_json best;
  size_t best_size = 0;
  while (std::getline(in, line)) {
    ordered_json c = ordered_json::parse(line);
    if (!c["tools"].is_null() && line.size() > best_size) {
      best = std::move(c);
      best_size = line.size();
    }
  }
  if (best.is_null()) {
    throw std::runtime_error("no tool-calling case in tests/fixtures/chat/qwen3.jsonl (run from the source root)");
  }
  return best;
}

void BM_ParseQwen3Template(benchmark::State& state) {
  const tessera::lm::ChatTemplate chat = tessera::lm::ChatTemplate::from_folder(kQwen3);
  for (auto _ : state) {
    tessera::lm::ChatTemplate parsed(chat.source(), "", "<|im_end|>");
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseQwen3Template)->Unit(benchmark::kMicrosecond);

void BM_RenderQwen3ToolConversation(benchmark::State& state) {
  const tessera::lm::ChatTemplate chat = tessera::lm::ChatTemplate::from_folder(kQwen3);
  const ordered_json c = tool_calling_case();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string prompt = chat.apply(c["messages"], c["tools"], c["add_generation_prompt"].get<bool>(), c["template_kwargs"]);
    bytes += prompt.size();
    benchmark::DoNotOptimize(prompt);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["messages"] = static_cast<double>(c["messages"].size());
}
BENCHMARK(BM_RenderQwen3ToolConversation)->Unit(benchmark::kMicrosecond);

}  // namespace
