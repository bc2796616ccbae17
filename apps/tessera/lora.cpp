// `tessera lora`: LoRA / DoRA / full fine-tuning and evaluation, with mlx_lm.lora's flags.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <type_traits>

#include <unistd.h>

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
  bool grad_checkpoint = false;
  uint64_t seed = 0;
  bool mask_prompt = false;
  int rank = 8;
  float scale = 20.0f;
  float dropout = 0.0f;
  std::vector<std::string> lora_keys;
  std::string config;
  nlohmann::json lr_schedule;
  nlohmann::json optimizer_config;
  CLI::Option* adapter_path_option = nullptr;
};

// Takes the settings of an mlx-lm YAML config that the command line did not give.
void apply_config(LoraFlags& flags, const CLI::App& app) {
  const nlohmann::json cfg = lm::read_yaml_config(flags.config);
  auto given = [&](const std::string& option) { return app.get_option(option)->count() > 0; };
  auto set = [&](const std::string& key, const std::string& option, auto& target) {
    if (!cfg.contains(key) || cfg.at(key).is_null() || given(option)) return;
    try {
      target = cfg.at(key).get<std::remove_reference_t<decltype(target)>>();
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument(flags.config + ": '" + key + "' has the wrong type");
    }
  };
  set("model", "--model", flags.model.model);
  set("train", "--train", flags.train);
  set("data", "--data", flags.data);
  set("fine_tune_type", "--fine-tune-type", flags.fine_tune_type);
  set("optimizer", "--optimizer", flags.optimizer);
  set("num_layers", "--num-layers", flags.num_layers);
  set("batch_size", "--batch-size", flags.batch_size);
  set("iters", "--iters", flags.iters);
  set("val_batches", "--val-batches", flags.val_batches);
  set("learning_rate", "--learning-rate", flags.learning_rate);
  set("steps_per_report", "--steps-per-report", flags.steps_per_report);
  set("steps_per_eval", "--steps-per-eval", flags.steps_per_eval);
  set("save_every", "--save-every", flags.save_every);
  set("adapter_path", "--adapter-path", flags.adapter_path);
  set("resume_adapter_file", "--resume-adapter-file", flags.resume_adapter_file);
  set("test", "--test", flags.test);
  set("test_batches", "--test-batches", flags.test_batches);
  set("max_seq_length", "--max-seq-length", flags.max_seq_length);
  set("grad_accumulation_steps", "--grad-accumulation-steps", flags.grad_accumulation_steps);
  set("grad_checkpoint", "--grad-checkpoint", flags.grad_checkpoint);
  set("seed", "--seed", flags.seed);
  set("mask_prompt", "--mask-prompt", flags.mask_prompt);
  if (cfg.contains("lora_parameters") && cfg.at("lora_parameters").is_object()) {
    const auto& p = cfg.at("lora_parameters");
    if (p.contains("rank") && !given("--lora-rank")) flags.rank = p.at("rank").get<int>();
    if (p.contains("scale") && !given("--lora-scale")) flags.scale = p.at("scale").get<float>();
    if (p.contains("dropout") && !given("--lora-dropout")) flags.dropout = p.at("dropout").get<float>();
    if (p.contains("keys") && !p.at("keys").is_null()) flags.lora_keys = p.at("keys").get<std::vector<std::string>>();
  }
  if (cfg.contains("lr_schedule") && !cfg.at("lr_schedule").is_null()) flags.lr_schedule = cfg.at("lr_schedule");
  if (cfg.contains("optimizer_config")) flags.optimizer_config = cfg.at("optimizer_config");
  if (flags.optimizer != "adam" && flags.optimizer != "adamw" && flags.optimizer != "sgd" &&
      flags.optimizer != "adafactor") {
    throw std::invalid_argument(flags.config + ": optimizer must be adam, adamw, sgd or adafactor, got '" +
                                flags.optimizer + "'");
  }
}

std::vector<lm::Example> read_split(const LoraFlags& flags, const lm::LoadedModel& loaded, const std::string& split,
                                    const std::string& purpose) {
  const fs::path file = fs::path(flags.data) / (split + ".jsonl");
  if (!fs::exists(file)) throw std::runtime_error(file.string() + ": not found; it is needed for " + purpose + ".");
  auto examples = lm::load_jsonl(file.string(), loaded);
  if (examples.empty()) throw std::runtime_error(file.string() + ": the file has no records.");
  return examples;
}

// The optimizer with mlx-lm's optimizer_config entry for it ({adam: {betas, eps, bias_correction}, ...}).
std::unique_ptr<optim::Optimizer> make_optimizer(const LoraFlags& flags) {
  optim::Optimizer::LearningRate lr = flags.learning_rate;
  if (!flags.lr_schedule.is_null()) lr = lm::build_schedule(flags.lr_schedule);
  const nlohmann::json extra = flags.optimizer_config.is_object() ? flags.optimizer_config.value(
                                                                        flags.optimizer, nlohmann::json::object())
                                                                  : nlohmann::json::object();
  if (flags.optimizer == "adafactor") {
    optim::AdafactorOptions o;
    o.clip_threshold = extra.value("clip_threshold", o.clip_threshold);
    o.decay_rate = extra.value("decay_rate", o.decay_rate);
    if (extra.contains("beta_1") && !extra.at("beta_1").is_null()) o.beta1 = extra.at("beta_1").get<float>();
    o.weight_decay = extra.value("weight_decay", o.weight_decay);
    o.scale_parameter = extra.value("scale_parameter", o.scale_parameter);
    o.relative_step = extra.value("relative_step", o.relative_step);
    o.warmup_init = extra.value("warmup_init", o.warmup_init);
    return std::make_unique<optim::Adafactor>(lr, o);
  }
  if (flags.optimizer == "sgd") {
    optim::SGDOptions o;
    o.momentum = extra.value("momentum", o.momentum);
    o.weight_decay = extra.value("weight_decay", o.weight_decay);
    o.dampening = extra.value("dampening", o.dampening);
    o.nesterov = extra.value("nesterov", o.nesterov);
    return std::make_unique<optim::SGD>(lr, o);
  }
  optim::AdamOptions o;
  if (extra.contains("betas")) {
    o.beta1 = extra.at("betas").at(0).get<float>();
    o.beta2 = extra.at("betas").at(1).get<float>();
  }
  o.eps = extra.value("eps", o.eps);
  o.bias_correction = extra.value("bias_correction", o.bias_correction);
  if (flags.optimizer == "adamw") return std::make_unique<optim::AdamW>(lr, o, extra.value("weight_decay", 0.01f));
  return std::make_unique<optim::Adam>(lr, o);
}

void run(LoraFlags flags, const CLI::App& app) {
  if (!flags.config.empty()) apply_config(flags, app);
  if (!flags.train && !flags.test) throw std::invalid_argument("nothing to do: give --train and/or --test.");
  lm::LoadedModel loaded = load_model(flags.model);
  lm::Model& model = *loaded.model;
  random::seed(flags.seed);
  lm::BatchOptions batch{flags.batch_size, flags.max_seq_length, flags.mask_prompt};

  if (flags.train) {
    lm::AdapterConfig config;
    config.fine_tune_type = flags.fine_tune_type;
    config.num_layers = flags.num_layers;
    config.lora = {flags.rank, flags.scale, flags.dropout, flags.lora_keys};
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
    options.grad_checkpoint = flags.grad_checkpoint;
    options.seed = flags.seed;
    options.adapter_file = (fs::path(flags.adapter_path) / "adapters.safetensors").string();
    options.batch = batch;
    options.progress_bar = isatty(STDERR_FILENO) != 0;
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
      ->check(CLI::IsMember({"adam", "adamw", "sgd", "adafactor"}))
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
  app.add_flag("--grad-checkpoint", flags->grad_checkpoint,
               "Recompute each layer's activations in the backward pass to save memory");
  app.add_option("--seed", flags->seed, "PRNG seed")->capture_default_str();
  app.add_flag("--mask-prompt", flags->mask_prompt, "Leave the prompt out of the loss");
  app.add_option("--lora-rank", flags->rank, "LoRA rank")->capture_default_str();
  app.add_option("--lora-scale", flags->scale, "LoRA scale")->capture_default_str();
  app.add_option("--lora-dropout", flags->dropout, "LoRA dropout")->capture_default_str();
  app.add_option("-c,--config", flags->config, "YAML config file (mlx-lm's keys); command-line flags win");
  app.callback([flags, &app] { run(*flags, app); });
}

const bool registered = register_command({"lora", "Fine-tune a model with LoRA, DoRA or fully", setup});

}  // namespace
}  // namespace tessera::cli
