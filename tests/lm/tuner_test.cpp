// Fine-tuning data, batching, adapter files and a short training run on the demo model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "tessera/io.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/tokenizer.h"
#include "tessera/lm/tuner.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace tessera::lm {
namespace {

namespace fs = std::filesystem;

LoadOptions with_adapter(const std::string& dir) {
  LoadOptions options;
  options.adapter_path = dir;
  return options;
}

const char* kDemoModel = "models/stories260K";
const char* kData = "tests/fixtures/lora_data";

// Scratch folders live until the test binary exits, then are removed.
class ScratchDirs {
 public:
  ~ScratchDirs() {
    std::error_code ignored;
    for (const auto& dir : dirs_) fs::remove_all(dir, ignored);
  }
  void add(const fs::path& dir) { dirs_.push_back(dir); }

 private:
  std::vector<fs::path> dirs_;
};

fs::path scratch(const std::string& name) {
  static ScratchDirs dirs;
  fs::path dir = fs::temp_directory_path() / ("tessera_tuner_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  dirs.add(dir);
  return dir;
}

fs::path write_file(const fs::path& file, const std::string& text) {
  std::ofstream(file) << text;
  return file;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

class TunerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { demo_ = new LoadedModel(load(kDemoModel)); }
  static void TearDownTestSuite() { delete demo_; }
  static LoadedModel* demo_;
};
LoadedModel* TunerTest::demo_ = nullptr;

TEST_F(TunerTest, TextRecordsGetEosOnce) {
  auto dir = scratch("text");
  auto file = write_file(dir / "t.jsonl", "{\"text\": \"Once upon a time\"}\n\n{\"text\": \"Hi\"}\n");
  auto examples = load_jsonl(file.string(), *demo_);
  ASSERT_EQ(examples.size(), 2u);
  const Tokenizer& tok = *demo_->tokenizer;
  std::vector<int> expected = tok.encode("Once upon a time", true);
  expected.push_back(tok.eos_token_ids().front());
  EXPECT_EQ(examples[0].tokens, expected);
  EXPECT_EQ(examples[0].prompt_tokens, 0);
}

TEST_F(TunerTest, CompletionRecordsWithoutTemplate) {
  auto dir = scratch("completion");
  auto file = write_file(dir / "c.jsonl", "{\"prompt\": \"Once upon\", \"completion\": \" a time\"}\n");
  auto examples = load_jsonl(file.string(), *demo_);
  const Tokenizer& tok = *demo_->tokenizer;
  EXPECT_EQ(examples[0].prompt_tokens, static_cast<int>(tok.encode("Once upon", true).size()));
  EXPECT_EQ(examples[0].tokens.back(), tok.eos_token_ids().front());
}

TEST_F(TunerTest, ChatRecordsGoThroughTheTemplate) {
  auto dir = scratch("chat");
  auto file = write_file(dir / "m.jsonl",
                         "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
                         "{\"role\": \"assistant\", \"content\": \"Once upon a time\"}]}\n");
  EXPECT_NE(error_of([&] { load_jsonl(file.string(), *demo_); }).find("m.jsonl:1"), std::string::npos);
  LoadedModel with_template = *demo_;
  with_template.chat_template = std::make_shared<ChatTemplate>(
      "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% "
      "endif %}",
      "<s>", "</s>");
  auto examples = load_jsonl(file.string(), with_template);
  const Tokenizer& tok = *demo_->tokenizer;
  EXPECT_EQ(examples[0].tokens, tok.encode("[user]Hi[assistant]Once upon a time", false));
  EXPECT_EQ(examples[0].prompt_tokens, static_cast<int>(tok.encode("[user]Hi[assistant]", false).size()));
}

TEST_F(TunerTest, BadRecordsNameFileAndLine) {
  auto dir = scratch("bad");
  auto bad = write_file(dir / "bad.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"\n");
  EXPECT_NE(error_of([&] { load_jsonl(bad.string(), *demo_); }).find("bad.jsonl:2"), std::string::npos);
  auto mixed = write_file(dir / "mixed.jsonl", "{\"text\": \"a\"}\n\n{\"prompt\": \"b\", \"completion\": \"c\"}\n");
  EXPECT_NE(error_of([&] { load_jsonl(mixed.string(), *demo_); }).find("mixed.jsonl:3"), std::string::npos);
  auto wrong = write_file(dir / "wrong.jsonl", "{\"text\": 3}\n");
  EXPECT_NE(error_of([&] { load_jsonl(wrong.string(), *demo_); }).find("wrong.jsonl:1"), std::string::npos);
  EXPECT_NE(error_of([&] { load_jsonl((dir / "none.jsonl").string(), *demo_); }).find("none.jsonl"),
            std::string::npos);
}

TEST(Batcher, SortsPadsMasksAndCuts) {
  std::vector<Example> examples{{{1, 2, 3, 4, 5, 6}, 2}, {{1, 2, 3}, 1}, {{1, 2, 3, 4}, 2}, {{1, 2}, 0}, {{9}, 0}};
  std::vector<std::string> warnings;
  Batcher batches(examples, {.batch_size = 2, .max_seq_length = 5, .mask_prompt = true}, "set",
                  [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_EQ(batches.size(), 2u);  // the odd one out is dropped
  ASSERT_EQ(warnings.size(), 1u);
  Batch first = batches.batch(0);  // {9} and {1, 2}
  EXPECT_EQ(first.tokens.shape(), (Shape{2, 2}));
  EXPECT_EQ(first.tokens.to_vector<int>(), (std::vector<int>{9, 0, 1, 2}));
  EXPECT_EQ(first.mask.to_vector<float>(), (std::vector<float>{0, 0, 0, 1}));
  Batch second = batches.batch(1);  // {1, 2, 3} (prompt 1) and {1, 2, 3, 4} (prompt 2)
  EXPECT_EQ(second.tokens.to_vector<int>(), (std::vector<int>{1, 2, 3, 0, 1, 2, 3, 4}));
  EXPECT_EQ(second.mask.to_vector<float>(), (std::vector<float>{0, 1, 1, 0, 0, 0, 1, 1}));
  EXPECT_EQ(second.target_tokens, 4);
  Batcher unmasked(examples, {.batch_size = 5, .max_seq_length = 5}, "set");
  Batch cut = unmasked.batch(0);
  EXPECT_EQ(cut.tokens.shape(), (Shape{5, 5}));  // the 6-token example is cut to 5
  EXPECT_EQ(cut.tokens.to_vector<int>().back(), 5);
  EXPECT_THROW(Batcher(examples, {.batch_size = 6}, "set"), std::invalid_argument);
}

TEST_F(TunerTest, TrainingLowersValidationLossAndAdaptersRoundTrip) {
  LoadedModel loaded = load(kDemoModel);
  auto train_set = load_jsonl(std::string(kData) + "/train.jsonl", loaded);
  auto valid_set = load_jsonl(std::string(kData) + "/valid.jsonl", loaded);
  BatchOptions batch{.batch_size = 4, .max_seq_length = 128};
  Batcher valid(valid_set, batch, "valid");
  const float before = evaluate(*loaded.model, valid, -1);

  AdapterConfig config;
  config.num_layers = -1;
  config.lora.rank = 4;
  random::seed(0);
  prepare_for_training(*loaded.model, config);
  auto dir = scratch("train");
  TrainingOptions options;
  options.iters = 30;
  options.steps_per_eval = 100;
  options.steps_per_report = 10;
  options.save_every = 20;
  options.val_batches = -1;
  options.adapter_file = (dir / "adapters.safetensors").string();
  options.batch = batch;
  save_adapter_config(dir.string(), config);
  optim::Adam adam(1e-3f);
  std::ostringstream log;
  train(*loaded.model, adam, train_set, valid_set, options, log);
  const float after = evaluate(*loaded.model, valid, -1);
  EXPECT_LT(after, before - 0.5f) << log.str();
  EXPECT_NE(log.str().find("Iter 30: Train loss"), std::string::npos);
  EXPECT_NE(log.str().find("Iter 1: Val loss"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "0000020_adapters.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "adapter_config.json"));
  EXPECT_FALSE(fs::exists(dir / "adapters.safetensors.tmp"));

  // The saved adapter, applied on load, gives the trained model's loss.
  LoadedModel reloaded = load(kDemoModel, with_adapter(dir.string()));
  EXPECT_NEAR(evaluate(*reloaded.model, valid, -1), after, 1e-5f);

  // Resuming from the checkpoint continues from its weights.
  LoadedModel resumed = load(kDemoModel);
  prepare_for_training(*resumed.model, config);
  load_adapter_weights(*resumed.model, (dir / "0000020_adapters.safetensors").string());
  const float at20 = evaluate(*resumed.model, valid, -1);
  EXPECT_LT(at20, before - 0.2f);

  // An adapter whose shapes do not fit is refused, naming the tensor.
  config.lora.rank = 8;
  save_adapter_config(dir.string(), config);
  std::string message = error_of([&] { load(kDemoModel, with_adapter(dir.string())); });
  EXPECT_NE(message.find(".lora_a"), std::string::npos) << message;
  EXPECT_NE(message.find("adapters.safetensors"), std::string::npos) << message;
}

TEST_F(TunerTest, FullFineTuningTrainsTheLastBlocks) {
  LoadedModel loaded = load(kDemoModel);
  AdapterConfig config;
  config.fine_tune_type = "full";
  config.num_layers = 1;
  prepare_for_training(*loaded.model, config);
  auto trainable = loaded.model->trainable_parameters();
  ASSERT_FALSE(trainable.empty());
  for (auto& [name, p] : trainable) EXPECT_TRUE(name.starts_with("model.layers.4.")) << name;
  auto train_set = load_jsonl(std::string(kData) + "/train.jsonl", loaded);
  auto dir = scratch("full");
  TrainingOptions options;
  options.iters = 3;
  options.adapter_file = (dir / "adapters.safetensors").string();
  options.batch = {.batch_size = 2, .max_seq_length = 64};
  save_adapter_config(dir.string(), config);
  optim::SGD sgd(0.1f);
  std::ostringstream log;
  train(*loaded.model, sgd, train_set, {}, options, log);
  const std::string name = "model.layers.4.mlp.down_proj.weight";
  LoadedModel base = load(kDemoModel);
  EXPECT_NE(base.model->parameters().at(name).to_vector<float>(), loaded.model->parameters().at(name).to_vector<float>());
  LoadedModel reloaded = load(kDemoModel, with_adapter(dir.string()));
  EXPECT_EQ(reloaded.model->parameters().at(name).to_vector<float>(),
            loaded.model->parameters().at(name).to_vector<float>());
}

TEST_F(TunerTest, EmptyTrainingSetIsAnError) {
  LoadedModel loaded = load(kDemoModel);
  AdapterConfig config;
  prepare_for_training(*loaded.model, config);
  optim::Adam adam(1e-3f);
  std::ostringstream log;
  EXPECT_THROW(train(*loaded.model, adam, {}, {}, TrainingOptions{}, log), std::invalid_argument);
}

TEST(YamlConfig, ReadsMlxLmConfigs) {
  auto dir = scratch("yaml");
  auto file = write_file(dir / "c.yaml",
                         "# comment\nmodel: \"m\"\ntrain: true\nlearning_rate: 1e-5\niters: 600  # inline\n"
                         "lora_parameters:\n  keys: [\"self_attn.q_proj\", v_proj]\n  rank: 8\n"
                         "lr_schedule:\n  name: cosine_decay\n  warmup: 10\n  arguments:\n    - 1e-5\n    - 100\n");
  auto cfg = read_yaml_config(file.string());
  EXPECT_EQ(cfg.at("model"), "m");
  EXPECT_EQ(cfg.at("train"), true);
  EXPECT_FLOAT_EQ(cfg.at("learning_rate").get<float>(), 1e-5f);
  EXPECT_EQ(cfg.at("iters"), 600);
  EXPECT_EQ(cfg.at("lora_parameters").at("keys"), nlohmann::json({"self_attn.q_proj", "v_proj"}));
  EXPECT_EQ(cfg.at("lora_parameters").at("rank"), 8);
  auto schedule = build_schedule(cfg.at("lr_schedule"));
  EXPECT_NEAR(schedule(5), 0.5e-5f, 1e-9);  // warmup
  EXPECT_NEAR(schedule(11), 1e-5f, 1e-9);   // cosine_decay(0)
  auto bad = write_file(dir / "bad.yaml", "iters: 3\n  rank: 2\n");
  EXPECT_NE(error_of([&] { read_yaml_config(bad.string()); }).find("bad.yaml:2"), std::string::npos);
  EXPECT_THROW(build_schedule(nlohmann::json{{"name", "nope"}, {"arguments", {1.0}}}), std::invalid_argument);
}

}  // namespace
}  // namespace tessera::lm
