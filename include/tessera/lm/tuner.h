// Fine-tuning of language models (mlx-lm's tuner): jsonl datasets, batching, adapters on disk,
// the training loop, evaluation and fusing an adapter into the base weights.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tessera/array.h"
#include "tessera/lm/model.h"
#include "tessera/nn/lora.h"
#include "tessera/optim/optimizers.h"

namespace tessera::lm {

// ---- data ----

// One tokenized record. The first `prompt_tokens` tokens are the prompt (excluded from the loss
// with --mask-prompt; 0 for text records).
struct Example {
  std::vector<int> tokens;
  int prompt_tokens = 0;
};

// Reads a jsonl file of {"text"}, {"prompt","completion"} or {"messages"[,"tools"]} records
// (the format of the first record applies to all). Chat and completion records go through the
// model's chat template when it has one; text records get EOS appended unless they end with it.
// Errors name file:line. An empty file gives no examples.
std::vector<Example> load_jsonl(const std::string& path, const LoadedModel& model);

// A batch: tokens [B, L] int32 (padded with 0) and mask [B, L] (1 = target token).
struct Batch {
  array tokens;
  array mask;
  int target_tokens = 0;
};

struct BatchOptions {
  int batch_size = 4;
  int max_seq_length = 2048;
  bool mask_prompt = false;
};

// Groups examples sorted by length into batches of batch_size (the last, short one is dropped,
// as in mlx-lm), cutting examples longer than max_seq_length (reported once through `warn`).
// Throws when there are fewer examples than batch_size.
class Batcher {
 public:
  Batcher(const std::vector<Example>& examples, const BatchOptions& options, const std::string& name,
          const std::function<void(const std::string&)>& warn = {});
  size_t size() const { return groups_.size(); }
  Batch batch(size_t i) const;

 private:
  const std::vector<Example>* examples_;
  BatchOptions options_;
  std::vector<std::vector<size_t>> groups_;
};

// ---- adapters ----

struct AdapterConfig {
  std::string fine_tune_type = "lora";  // lora | dora | full
  int num_layers = 16;                  // -1: all
  nn::LoRAParameters lora;
  nlohmann::json to_json() const;
  // Reads adapter_config.json's keys (mlx-lm's names); `source` names the file in errors.
  static AdapterConfig from_json(const nlohmann::json& j, const std::string& source);
};

// Replaces layers by adapters (lora, dora) or unfreezes the blocks (full), as `config` says;
// afterwards exactly the adapter parameters are trainable.
void prepare_for_training(Model& model, const AdapterConfig& config);
// The trainable parameters to `file` (written to a temporary file, then renamed).
void save_adapter_weights(const Model& model, const std::string& file);
// Loads adapter weights into a prepared model. A tensor that is not a trainable parameter, or
// has another shape, is an error naming it and the file.
void load_adapter_weights(Model& model, const std::string& file);
void save_adapter_config(const std::string& dir, const AdapterConfig& config);
// Reads <dir>/adapter_config.json, prepares the model and loads <dir>/adapters.safetensors.
AdapterConfig apply_adapters(Model& model, const std::string& dir);

// ---- training ----

struct TrainingOptions {
  int iters = 1000;
  int val_batches = 25;      // -1: the whole validation set
  int steps_per_report = 10;
  int steps_per_eval = 200;
  int save_every = 100;
  int grad_accumulation_steps = 1;
  // Recompute each layer's activations in the backward pass (less memory, more compute).
  bool grad_checkpoint = false;
  uint64_t seed = 0;
  std::string adapter_file = "adapters/adapters.safetensors";
  BatchOptions batch;
  // Draws a progress bar on stderr between reports (for a terminal).
  bool progress_bar = false;
};

// Mean cross entropy over the target tokens of up to `num_batches` batches (-1: all), weighted
// by their token counts.
float evaluate(Model& model, const Batcher& batches, int num_batches);

// Trains the model's trainable parameters, printing mlx-lm's reports to `out`; `valid` may be
// empty (no evaluation).
void train(Model& model, optim::Optimizer& optimizer, const std::vector<Example>& train_set,
           const std::vector<Example>& valid_set, const TrainingOptions& options, std::ostream& out);

// The learning-rate schedule of mlx-lm's `lr_schedule` config entry: {name (cosine_decay,
// linear_schedule, exponential_decay, step_decay), arguments (the schedule's positional
// arguments, the first being the initial rate), warmup, warmup_init}.
optim::Schedule build_schedule(const nlohmann::json& lr_schedule);

// Reads a training config in the YAML subset mlx-lm's configs use (nested mappings, lists,
// scalars) into JSON. Errors name file:line.
nlohmann::json read_yaml_config(const std::string& path);

// ---- fuse ----

struct FuseOptions {
  std::string model_path;
  std::string adapter_path;
  std::string save_path;  // must not exist
  bool dequantize = false;
};

// Merges the adapter into the base weights and writes a model folder (via a temporary folder).
void fuse(const FuseOptions& options);
// Replaces every adapter layer of `model` by a plain layer holding the merged weight:
// quantized again (same group size and bits) for a quantized base unless `dequantize`.
void fuse_adapters(Model& model, bool dequantize);

}  // namespace tessera::lm
