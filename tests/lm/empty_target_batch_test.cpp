// Training batches without target tokens (--mask-prompt with every completion cut away by
// --max-seq-length): no NaN, no update, no trained tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "tessera/lm/tuner.h"
#include "tessera/random.h"

namespace tessera::lm {
namespace {

namespace fs = std::filesystem;

const char* kDemoModel = "models/stories260K";

// The demo model with LoRA adapters, initialised from a fixed seed.
LoadedModel lora_model() {
  LoadedModel loaded = load(kDemoModel);
  AdapterConfig config;
  config.num_layers = -1;
  config.lora.rank = 4;
  random::seed(0);
  prepare_for_training(*loaded.model, config);
  return loaded;
}

// A record whose first `prompt` of `length` tokens are the prompt.
Example record(int length, int prompt, int first_id) {
  Example e;
  for (int t = 0; t < length; ++t) e.tokens.push_back(first_id + 3 * t);
  e.prompt_tokens = prompt;
  return e;
}

// Trains with --mask-prompt, --max-seq-length 8 and batch size 1; returns the log.
std::string train_on(Model& model, const std::vector<Example>& examples, int iters, int accumulation) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_empty_batch_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  TrainingOptions options;
  options.iters = iters;
  options.steps_per_report = iters;
  options.grad_accumulation_steps = accumulation;
  options.adapter_file = (dir / "adapters.safetensors").string();
  options.batch = {.batch_size = 1, .max_seq_length = 8, .mask_prompt = true};
  optim::Adam adam(1e-2f);
  std::ostringstream log;
  train(model, adam, examples, {}, options, log);
  fs::remove_all(dir);
  return log.str();
}

std::map<std::string, std::vector<float>> values(Model& model) {
  std::map<std::string, std::vector<float>> out;
  for (auto& [name, p] : model.trainable_parameters()) out.emplace(name, p.to_vector<float>());
  return out;
}

bool all_finite(const std::map<std::string, std::vector<float>>& params) {
  for (const auto& [name, v] : params) {
    for (float x : v) {
      if (!std::isfinite(x)) return false;
    }
  }
  return true;
}

TEST(EmptyTargetBatch, LeavesTheAdaptersUnchanged) {
  LoadedModel loaded = lora_model();
  const auto before = values(*loaded.model);
  // The prompt (10 tokens) is longer than the 8 kept: no completion token is left to learn.
  const std::string log = train_on(*loaded.model, {record(14, 10, 5)}, 2, 1);
  EXPECT_NE(log.find("Trained Tokens 0,"), std::string::npos) << log;
  EXPECT_EQ(log.find("nan"), std::string::npos) << log;
  EXPECT_EQ(values(*loaded.model), before);
}

TEST(EmptyTargetBatch, AddsNothingToAnAccumulatedStep) {
  // One empty and one real batch accumulated over two steps update the adapters exactly as the
  // real batch alone does.
  const Example empty = record(14, 10, 5);
  const Example real = record(6, 2, 7);
  LoadedModel alone = lora_model();
  train_on(*alone.model, {real}, 1, 1);
  LoadedModel accumulated = lora_model();
  const auto before = values(*accumulated.model);
  const std::string log = train_on(*accumulated.model, {empty, real}, 2, 2);
  EXPECT_NE(log.find("Trained Tokens 4,"), std::string::npos) << log;
  const auto after = values(*accumulated.model);
  EXPECT_TRUE(all_finite(after));
  EXPECT_NE(after, before);
  EXPECT_EQ(after, values(*alone.model));
}

}  // namespace
}  // namespace tessera::lm
