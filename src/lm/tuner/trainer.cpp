// The training loop and evaluation (mlx-lm's tuner/trainer.py reports).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>

#include "tessera/lm/tuner.h"
#include "tessera/memory.h"
#include "tessera/nn/losses.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/random.h"
#include "tessera/transforms.h"

namespace tessera::lm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Mean loss over the batch's target tokens.
array batch_loss(Model& model, const Batch& batch) {
  const int64_t B = batch.tokens.shape(0);
  const int64_t L = batch.tokens.shape(1);
  array logits = model(slice(batch.tokens, {0, 0}, {B, L - 1}));
  return nn::lm_loss(logits, batch.tokens, batch.mask).first;
}

std::string format(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

void draw_progress(int it, int iters) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(static_cast<long long>(kWidth) * it / iters);
  std::fprintf(stderr, "\r[%s%s] %d/%d", std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
               it, iters);
  std::fflush(stderr);
}

// Clears the progress bar line before a report is printed.
void clear_progress(bool on) {
  if (on) std::fprintf(stderr, "\r\033[K");
}

}  // namespace

float evaluate(Model& model, const Batcher& batches, int num_batches) {
  const bool was_training = model.training();
  model.train(false);
  const size_t n = num_batches < 0 ? batches.size() : std::min(batches.size(), static_cast<size_t>(num_batches));
  double loss_sum = 0;
  double tokens = 0;
  for (size_t i = 0; i < n; ++i) {
    Batch batch = batches.batch(i);
    if (batch.target_tokens == 0) continue;
    loss_sum += static_cast<double>(batch_loss(model, batch).item<float>()) * batch.target_tokens;
    tokens += batch.target_tokens;
  }
  model.train(was_training);
  if (tokens == 0) throw std::invalid_argument("evaluation data has no target tokens");
  return static_cast<float>(loss_sum / tokens);
}

void train(Model& model, optim::Optimizer& optimizer, const std::vector<Example>& train_set,
           const std::vector<Example>& valid_set, const TrainingOptions& options, std::ostream& out) {
  if (options.iters <= 0) throw std::invalid_argument("--iters must be positive");
  if (options.steps_per_report <= 0 || options.steps_per_eval <= 0 || options.save_every <= 0) {
    throw std::invalid_argument("--steps-per-report, --steps-per-eval and --save-every must be positive");
  }
  if (options.grad_accumulation_steps <= 0) throw std::invalid_argument("--grad-accumulation-steps must be positive");
  if (train_set.empty()) throw std::invalid_argument("the training set is empty");
  auto warn = [&](const std::string& message) { out << message << "\n"; };
  Batcher train_batches(train_set, options.batch, "the training set", warn);
  std::optional<Batcher> valid_batches;
  if (!valid_set.empty()) valid_batches.emplace(valid_set, options.batch, "the validation set", warn);

  random::seed(options.seed);
  std::mt19937_64 rng(options.seed);
  std::vector<size_t> order(train_batches.size());
  size_t cursor = order.size();
  auto next_batch = [&]() {
    if (cursor == order.size()) {
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      cursor = 0;
    }
    return train_batches.batch(order[cursor++]);
  };

  auto trainable = model.trainable_parameters();
  size_t n_params = 0;
  for (auto& [name, p] : trainable) n_params += p.size();
  const size_t n_total = nn::parameter_count(model);
  out << format("Trainable parameters: %.3f%% (%.3fM/%.3fM)\n", 100.0 * n_params / std::max<size_t>(n_total, 1),
                n_params / 1e6, n_total / 1e6);
  out << "Starting training..., iters: " << options.iters << "\n";

  const Batch* current = nullptr;
  auto loss_and_grad = value_and_grad([&](const ParamMap& params) {
    model.update(params);
    return batch_loss(model, *current);
  });

  const std::string adapter_file = options.adapter_file;
  const std::string adapter_dir = std::filesystem::path(adapter_file).parent_path().string();
  double window_loss = 0, window_tokens = 0, window_time = 0;
  int window_steps = 0;
  long long trained_tokens = 0;
  // Gradients summed over the batches (with target tokens) since the last optimizer step.
  ParamMap accumulated;
  int accumulated_batches = 0;
  reset_peak_memory();
  for (int it = 1; it <= options.iters; ++it) {
    if (valid_batches && (it == 1 || it % options.steps_per_eval == 0 || it == options.iters)) {
      auto start = Clock::now();
      float val = evaluate(model, *valid_batches, options.val_batches);
      clear_progress(options.progress_bar);
      out << format("Iter %d: Val loss %.3f, Val took %.3fs\n", it, val, seconds_since(start)) << std::flush;
    }

    auto start = Clock::now();
    model.train(true);
    Batch batch = next_batch();
    const float lr = optimizer.learning_rate();
    const int k = options.grad_accumulation_steps;
    std::vector<array> to_eval;
    // A batch without target tokens (--mask-prompt with every completion cut away by
    // --max-seq-length) has nothing to learn from: it adds no loss, gradient or trained tokens.
    std::optional<array> loss;
    if (batch.target_tokens > 0) {
      current = &batch;
      ParamMap params = model.trainable_parameters();
      // Checkpointing matters only while the gradient graph is built; evaluation runs plain.
      model.set_grad_checkpoint(options.grad_checkpoint);
      auto [value, grads] = loss_and_grad(params);
      model.set_grad_checkpoint(false);
      model.update(params);
      for (auto& [name, g] : grads) {
        auto found = accumulated.find(name);
        accumulated.insert_or_assign(name, found == accumulated.end() ? g : add(found->second, g));
      }
      ++accumulated_batches;
      loss = value;
    }
    if (k == 1 || it % k == 0 || it == options.iters) {
      if (accumulated_batches > 0) {
        ParamMap step;
        const array batches(static_cast<float>(accumulated_batches));
        for (auto& [name, g] : accumulated) step.emplace(name, accumulated_batches > 1 ? divide(g, batches) : g);
        model.update(optimizer.apply_gradients(step, model.trainable_parameters()));
        to_eval = optimizer.state_arrays();
        for (auto& [name, p] : model.trainable_parameters()) to_eval.push_back(p);
      }
      accumulated.clear();
      accumulated_batches = 0;
    } else {
      for (auto& [name, g] : accumulated) to_eval.push_back(g);
    }
    if (loss) to_eval.push_back(*loss);
    if (!to_eval.empty()) eval(to_eval);
    model.train(false);
    window_time += seconds_since(start);
    if (loss) window_loss += static_cast<double>(loss->item<float>()) * batch.target_tokens;
    window_tokens += batch.target_tokens;
    trained_tokens += batch.target_tokens;
    ++window_steps;

    if (options.progress_bar) draw_progress(it, options.iters);
    if (it % options.steps_per_report == 0 || it == options.iters) {
      clear_progress(options.progress_bar);
      out << format(
                 "Iter %d: Train loss %.3f, Learning Rate %.3e, It/sec %.3f, Tokens/sec %.3f, Trained Tokens %lld, "
                 "Peak mem %.3f GB\n",
                 it, window_tokens > 0 ? window_loss / window_tokens : 0.0, static_cast<double>(lr),
                 window_steps / window_time, window_tokens / window_time, trained_tokens,
                 static_cast<double>(get_peak_memory()) / 1e9)
          << std::flush;
      window_loss = window_tokens = window_time = 0;
      window_steps = 0;
    }
    if (it % options.save_every == 0) {
      save_adapter_weights(model, adapter_file);
      const std::string checkpoint =
          (std::filesystem::path(adapter_dir) / format("%07d_adapters.safetensors", it)).string();
      save_adapter_weights(model, checkpoint);
      clear_progress(options.progress_bar);
      out << "Iter " << it << ": Saved adapter weights to " << adapter_file << " and " << checkpoint << ".\n";
    }
  }
  save_adapter_weights(model, adapter_file);
  out << "Saved final weights to " << adapter_file << ".\n";
}

}  // namespace tessera::lm
