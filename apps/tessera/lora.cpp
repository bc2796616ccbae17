// `tessera lora`: LoRA / DoRA / full fine-tuning and evaluation, with mlx_lm.lora's flags.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "command.h"
#include "model_options.h"
#include "tessera/lm/tuner.h"
#include "tessera/random.h"

namespace tessera::cli {
namespace {

namespace fs = std::filesystem;

struct LoraFlags {
  ModelFlags model;
  bool train = false;
  std::string data = "data";
  std::string fine_tune_type = "lora";
  std::string optimizer = "adam";
  int num_layers = 16;
  int batch_size = 4;
  int iters = 1000;
  int val_batches = 25;
  float learning_rate = 1e-5f;
  int steps_per_report = 10;
  int steps_per_eval = 200;
  int save_every = 100;
  std::string adapter_path = "adapters";
  std::string resume_adapter_file;
  bool test = false;
  int test_batches = 500;
  int max_seq_length = 2048;
  int grad_accumulation_steps = 1;
  uint64_t seed = 0;
  bool mask_prompt = false;
  int rank = 8;
  float scale = 20.0f;
  float dropout = 0.0f;
  CLI::Option* adapter_path_option = nullptr;
};

std::vector<lm::Example> read_split(const LoraFlags& flags, const lm::LoadedModel& loaded, const std::string& split,
                                    const std::string& purpose) {
  const fs::path file = fs::path(flags.data) / (split + ".jsonl");
  if (!fs::exists(file)) throw std::runtime_error(file.string() + ": not found; it is needed for " + purpose + ".");
  auto examples = lm::load_jsonl(file.string(), loaded);
  if (examples.empty()) throw std::runtime_error(file.string() + ": the file has no records.");
  return examples;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const LoraFlags& flags) {
  if (flags.optimizer == "adam") return std::make_unique<optim::Adam>(flags.learning_rate);
  if (flags.optimizer == "adamw") return std::make_unique<optim::AdamW>(flags.learning_rate);
  return std::make_unique<optim::SGD>(flags.learning_rate);
}

void run(const LoraFlags& flags) {
  if (!flags.train && !flags.test) throw std::invalid_argument("nothing to do: give --train and/or --test.");
  lm::LoadedModel loaded = load_model(flags.model);
  lm::Model& model = *loaded.model;
  random::seed(flags.seed);
  lm::BatchOptions batch{flags.batch_size, flags.max_seq_length, flags.mask_prompt};

  if (flags.train) {
    lm::AdapterConfig config;
    config.fine_tune_type = flags.fine_tune_type;
    config.num_layers = flags.num_layers;
    config.lora = {flags.rank, flags.scale, flags.dropout, {}};
    auto train_set = read_split(flags, loaded, "train", "training");
    std::vector<lm::Example> valid_set;
    if (flags.val_batches != 0) valid_set = read_split(flags, loaded, "valid", "validation (--val-batches 0 skips it)");
    lm::prepare_for_training(model, config);
    if (!flags.resume_adapter_file.empty()) {
      std::cout << "Loading fine-tuned weights from " << flags.resume_adapter_file << "\n";
      lm::load_adapter_weights(model, flags.resume_adapter_file);
    }
    lm::save_adapter_config(flags.adapter_path, config);
    lm::TrainingOptions options;
    options.iters = flags.iters;
    options.val_batches = flags.val_batches;
    options.steps_per_report = flags.steps_per_report;
    options.steps_per_eval = flags.steps_per_eval;
    options.save_every = flags.save_every;
    options.grad_accumulation_steps = flags.grad_accumulation_steps;
    options.seed = flags.seed;
    options.adapter_file = (fs::path(flags.adapter_path) / "adapters.safetensors").string();
    options.batch = batch;
    auto optimizer = make_optimizer(flags);
    lm::train(model, *optimizer, train_set, valid_set, options, std::cout);
  } else if (flags.adapter_path_option->count() > 0) {
    lm::apply_adapters(model, flags.adapter_path);
  }

  if (flags.test) {
    auto test_set = read_split(flags, loaded, "test", "--test");
    lm::Batcher batches(test_set, batch, "the test set", [](const std::string& m) { std::cout << m << "\n"; });
    const float loss = lm::evaluate(model, batches, flags.test_batches);
    std::printf("Test loss %.3f, Test ppl %.3f.\n", loss, std::exp(loss));
  }
}

void setup(CLI::App& app) {
  auto flags = std::make_shared<LoraFlags>();
  add_model_flags(app, flags->model, false);
  app.add_flag("--train", flags->train, "Do training");
  app.add_option("--data", flags->data, "Folder with train.jsonl, valid.jsonl, test.jsonl")->capture_default_str();
  app.add_option("--fine-tune-type", flags->fine_tune_type, "Type of fine-tuning")
      ->check(CLI::IsMember({"lora", "dora", "full"}))
      ->capture_default_str();
  app.add_option("--optimizer", flags->optimizer, "Optimizer")
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}))
      ->capture_default_str();
  app.add_option("--num-layers", flags->num_layers, "Number of layers to fine-tune (-1: all)")->capture_default_str();
  app.add_option("--batch-size", flags->batch_size, "Minibatch size")->capture_default_str();
  app.add_option("--iters", flags->iters, "Iterations to train for")->capture_default_str();
  app.add_option("--val-batches", flags->val_batches, "Validation batches (-1: the whole set)")->capture_default_str();
  app.add_option("--learning-rate", flags->learning_rate, "Adam learning rate")->capture_default_str();
  app.add_option("--steps-per-report", flags->steps_per_report, "Steps between loss reports")->capture_default_str();
  app.add_option("--steps-per-eval", flags->steps_per_eval, "Steps between validations")->capture_default_str();
  app.add_option("--save-every", flags->save_every, "Save the adapter every N iterations")->capture_default_str();
  flags->adapter_path_option =
      app.add_option("--adapter-path", flags->adapter_path, "Folder for (or of) the adapter")->capture_default_str();
  app.add_option("--resume-adapter-file", flags->resume_adapter_file, "Adapter weights to start training from");
  app.add_flag("--test", flags->test, "Evaluate on the test set after training");
  app.add_option("--test-batches", flags->test_batches, "Test batches (-1: the whole set)")->capture_default_str();
  app.add_option("--max-seq-length", flags->max_seq_length, "Maximum sequence length")->capture_default_str();
  app.add_option("--grad-accumulation-steps", flags->grad_accumulation_steps, "Batches per optimizer update")
      ->capture_default_str();
  app.add_option("--seed", flags->seed, "PRNG seed")->capture_default_str();
  app.add_flag("--mask-prompt", flags->mask_prompt, "Leave the prompt out of the loss");
  app.add_option("--lora-rank", flags->rank, "LoRA rank")->capture_default_str();
  app.add_option("--lora-scale", flags->scale, "LoRA scale")->capture_default_str();
  app.add_option("--lora-dropout", flags->dropout, "LoRA dropout")->capture_default_str();
  app.callback([flags] { run(*flags); });
}

const bool registered = register_command({"lora", "Fine-tune a model with LoRA, DoRA or fully", setup});

}  // namespace
}  // namespace tessera::cli
