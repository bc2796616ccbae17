// `tessera perplexity`: perplexity of a model on a text file, as mlx_lm.perplexity reports it.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "command.h"
#include "model_options.h"
#include "tessera/lm/perplexity.h"
#include "tessera/memory.h"

namespace tessera::cli {
namespace {

struct PerplexityFlags {
  ModelFlags model;
  std::string data;
  int sequence_length = 512;
  int batch_size = 8;
  int num_samples = -1;
  bool json = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open the data file.");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(path + ": error while reading the data file.");
  return text.str();
}

void run(const PerplexityFlags& flags) {
  if (flags.sequence_length < 2) {
    throw std::invalid_argument("--sequence-length must be at least 2, got " + std::to_string(flags.sequence_length) + ".");
  }
  if (flags.batch_size < 1) {
    throw std::invalid_argument("--batch-size must be at least 1, got " + std::to_string(flags.batch_size) + ".");
  }
  std::string text = read_text_file(flags.data);
  if (!flags.json) std::cout << "Loading model from " << flags.model.model << "...\n";
  lm::LoadedModel loaded = load_model(flags.model);
  std::vector<int> tokens = loaded.tokenizer->encode(text, true);
  std::vector<std::vector<int>> sequences;
  try {
    sequences = lm::split_sequences(tokens, flags.sequence_length, flags.num_samples);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(flags.data + ": " + std::to_string(tokens.size()) +
                                " tokens, fewer than one sequence of --sequence-length " +
                                std::to_string(flags.sequence_length) + ".");
  }
  if (!flags.json) {
    size_t params = 0;
    for (const auto& [name, p] : loaded.model->parameters()) params += p.size();
    std::printf("Model loaded: %.1fM parameters\n", static_cast<double>(params) / 1e6);
    std::printf("\nLoading dataset...\n  Sequence length: %d\n  Loaded %zu samples\n", flags.sequence_length,
                sequences.size());
    std::printf("\nEvaluating perplexity with batch size %d...\n", flags.batch_size);
    std::fflush(stdout);
  }

  auto start = std::chrono::steady_clock::now();
  lm::PerplexityResult r = lm::perplexity(*loaded.model, sequences, flags.batch_size, [&](int done, int total) {
    if (!flags.json) {
      std::printf("  Processed %d/%d batches...\r", done, total);
      std::fflush(stdout);
    }
  });
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double peak_gb = static_cast<double>(get_peak_memory()) / 1e9;

  if (flags.json) {
    nlohmann::ordered_json out = {{"model", flags.model.model},
                                  {"ppl", r.ppl},
                                  {"stderr", r.stderr_ppl},
                                  {"mean_nll", r.mean_nll},
                                  {"tokens", r.tokens},
                                  {"sequences", r.sequences},
                                  {"sequence_length", flags.sequence_length},
                                  {"seconds", seconds},
                                  {"tokens_per_sec", static_cast<double>(r.tokens) / seconds},
                                  {"peak_memory_bytes", get_peak_memory()}};
    std::cout << out.dump() << "\n";
    return;
  }
  std::printf("\n\n============================================================\n");
  std::printf("EVALUATION RESULTS\n");
  std::printf("============================================================\n");
  std::printf("Model: %s\n", flags.model.model.c_str());
  std::printf("Perplexity: %.3f \u00b1 %.3f\n", r.ppl, r.stderr_ppl);
  std::printf("Evaluation time: %.2f seconds\n", seconds);
  std::printf("Peak memory: %.2f GB\n", peak_gb);
  std::printf("Tokens per second: %.0f\n", static_cast<double>(r.tokens) / seconds);
  std::printf("\nDataset statistics:\n  Total samples: %d\n  Total tokens: %lld\n", r.sequences,
              static_cast<long long>(r.sequences) * flags.sequence_length);
  std::fflush(stdout);
}

void setup(CLI::App& app) {
  auto flags = std::make_shared<PerplexityFlags>();
  add_model_flags(app, flags->model);
  add_decoding_flags(app, flags->model);
  app.add_option("--data", flags->data, "A text file to evaluate on")->required();
  app.add_option("--sequence-length", flags->sequence_length, "Tokens per evaluated sequence")->capture_default_str();
  app.add_option("--batch-size", flags->batch_size, "Sequences per forward pass")->capture_default_str();
  app.add_option("--num-samples", flags->num_samples, "Evaluate at most this many sequences (-1: all)")
      ->capture_default_str();
  app.add_flag("--json", flags->json, "Print one JSON object (ppl, stderr, tokens, ...) instead of the report");
  app.callback([flags] { run(*flags); });
}

const bool registered = register_command({"perplexity", "Perplexity of a model on a text file", setup});

}  // namespace
}  // namespace tessera::cli
