// `tessera bench`: prompt-processing and generation speed, printed like llama-bench (a table)
// or as one JSON object per configuration (--json).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "backend/cpu/memory_bandwidth.h"
#include "backend/cpu/thread_pool.h"
#include "command.h"
#include "model_options.h"
#include "tessera/lm/bench.h"
#include "tessera/nn/quantized.h"

namespace tessera::cli {
namespace {

struct BenchFlags {
  ModelFlags model;
  int n_prompt = 512;
  int n_gen = 128;
  int repetitions = 3;
  int n_depth = 0;
  int threads = 0;
  bool json = false;
};

// "4bit" for a quantized model ("3/6bit" for a mixed one: the widths its quantized layers use),
// else the floating-point dtype holding most weight bytes.
std::string dtype_or_bits(const lm::LoadedModel& loaded) {
  for (const char* key : {"quantization", "quantization_config"}) {
    if (!loaded.config.contains(key) || !loaded.config[key].contains("bits")) continue;
    const nlohmann::json& q = loaded.config[key];
    std::set<int> widths;
    const std::string suffix = ".scales";
    for (const auto& [name, p] : loaded.model->parameters()) {
      if (!name.ends_with(suffix)) continue;
      const std::string layer = name.substr(0, name.size() - suffix.size());
      const bool own = q.contains(layer) && q[layer].is_object() && q[layer].contains("bits");
      widths.insert((own ? q[layer] : q)["bits"].get<int>());
    }
    if (widths.empty()) widths.insert(q["bits"].get<int>());
    std::string label;
    for (int bits : widths) label += (label.empty() ? "" : "/") + std::to_string(bits);
    return label + "bit";
  }
  std::map<std::string, size_t> bytes;
  for (const auto& [name, p] : loaded.model->parameters()) {
    if (is_floating_point(p.dtype())) bytes[to_string(p.dtype())] += p.nbytes();
  }
  std::string best = "float32";
  size_t most = 0;
  for (const auto& [dtype, n] : bytes) {
    if (n > most) {
      most = n;
      best = dtype;
    }
  }
  return best;
}

std::string model_name(const std::string& path) {
  std::filesystem::path p(path);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

// 2.30 GiB, 512.00 MiB, ... as llama-bench prints sizes and parameter counts.
std::string with_unit(double value, double base, const std::vector<const char*>& units) {
  size_t u = 0;
  while (u + 1 < units.size() && value >= base) {
    value /= base;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.2f %s", value, units[u]);
  return text;
}

void print_row(const std::string& model, const std::string& dtype, const std::string& size, const std::string& params,
               int threads, const std::string& test, const std::vector<double>& tps) {
  char ts[64];
  std::snprintf(ts, sizeof ts, "%.2f \u00b1 %.2f", lm::mean(tps), lm::stddev(tps));
  std::printf("| %-24s | %-8s | %11s | %10s | %7d | %14s | %20s |\n", model.c_str(), dtype.c_str(), size.c_str(),
              params.c_str(), threads, test.c_str(), ts);
}

void run(const BenchFlags& flags) {
  if (flags.n_prompt < 0 || flags.n_gen < 0 || flags.n_depth < 0) throw std::invalid_argument("-p, -n and -d must be >= 0.");
  if (flags.repetitions < 1) throw std::invalid_argument("-r must be >= 1, got " + std::to_string(flags.repetitions) + ".");
  if (flags.threads < 0) throw std::invalid_argument("-t must be >= 1, got " + std::to_string(flags.threads) + ".");
  // The worker pool reads its size once, when the first kernel runs.
  if (flags.threads > 0) setenv("TESSERA_NUM_THREADS", std::to_string(flags.threads).c_str(), 1);

  auto start = std::chrono::steady_clock::now();
  lm::LoadedModel loaded = load_model(flags.model, /*decoding=*/true);
  double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  lm::BenchOptions options;
  options.n_prompt = flags.n_prompt;
  options.n_gen = flags.n_gen;
  options.repetitions = flags.repetitions;
  options.n_depth = flags.n_depth;
  // On a machine whose bandwidth drifts (a virtual machine's neighbours, within seconds), each tg
  // run is compared with the limit measured right before and right after it, the larger figure.
  std::optional<cpu::ReadBandwidthProbe> probe;
  if (options.n_gen > 0) {
    probe.emplace();
    options.measure_bandwidth = [&probe] { return probe->measure(); };
  }
  lm::BenchResult r = lm::benchmark(*loaded.model, options);
  probe.reset();

  const int threads = cpu::num_threads();
  const size_t weights = lm::weights_bytes(*loaded.model);
  // What one generated token reads: the weights, and at a depth the cache up to the average
  // position of the tg test.
  const double cache_read = static_cast<double>(r.cache_bytes_per_token) * (flags.n_depth + (flags.n_gen + 1) / 2.0);
  const double per_token = static_cast<double>(weights) + cache_read;
  std::vector<double> fractions;
  for (size_t i = 0; i < r.tg_tps.size(); ++i) fractions.push_back(r.tg_tps[i] * per_token / r.tg_bandwidth[i]);
  const double tg_fraction = lm::mean(fractions);
  const auto [low, high] = std::minmax_element(r.tg_bandwidth.begin(), r.tg_bandwidth.end());
  const double bandwidth = r.tg_bandwidth.empty() ? 0.0 : *high;
  // " a8": the quantized layers' activations rounded to int8 (--int8-activations).
  const std::string dtype = dtype_or_bits(loaded) + (flags.model.int8_activations ? " a8" : "");
  const std::string name = model_name(flags.model.model);
  if (flags.json) {
    nlohmann::ordered_json out = {{"model", name},
                                  {"dtype_or_bits", dtype},
                                  {"threads", threads},
                                  {"n_prompt", flags.n_prompt},
                                  {"n_gen", flags.n_gen},
                                  {"n_depth", flags.n_depth},
                                  {"pp_tps", lm::mean(r.pp_tps)},
                                  {"tg_tps", lm::mean(r.tg_tps)},
                                  {"pp_tps_all", r.pp_tps},
                                  {"tg_tps_all", r.tg_tps},
                                  {"weights_bytes", weights},
                                  {"cache_bytes_per_token", r.cache_bytes_per_token},
                                  {"n_params", nn::parameter_count(*loaded.model)},
                                  {"peak_memory_bytes", r.peak_memory_bytes},
                                  {"load_seconds", load_seconds},
                                  {"read_bandwidth_bytes_per_s", bandwidth},
                                  {"tg_read_bandwidth_all", r.tg_bandwidth},
                                  {"tg_bandwidth_fraction", tg_fraction},
                                  {"repetitions", flags.repetitions},
                                  {"device", "cpu"}};
    std::cout << out.dump() << "\n";
    return;
  }
  const size_t params = nn::parameter_count(*loaded.model);
  std::string size = with_unit(static_cast<double>(weights), 1024, {"B", "KiB", "MiB", "GiB"});
  std::string count = with_unit(static_cast<double>(params), 1000, {"", "K", "M", "B"});
  std::printf("| %-24s | %-8s | %11s | %10s | %7s | %14s | %20s |\n", "model", "dtype", "size", "params", "threads",
              "test", "t/s");
  std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", std::string(24, '-').c_str(), std::string(8, '-').c_str(),
              (std::string(10, '-') + ":").c_str(), (std::string(9, '-') + ":").c_str(),
              (std::string(6, '-') + ":").c_str(), (std::string(13, '-') + ":").c_str(),
              (std::string(19, '-') + ":").c_str());
  const std::string at = flags.n_depth > 0 ? " @ d" + std::to_string(flags.n_depth) : "";
  const std::string pp = "pp" + std::to_string(flags.n_prompt) + at, tg = "tg" + std::to_string(flags.n_gen) + at;
  if (!r.pp_tps.empty()) print_row(name, dtype, size, count, threads, pp, r.pp_tps);
  if (!r.tg_tps.empty()) print_row(name, dtype, size, count, threads, tg, r.tg_tps);
  std::printf("\nload time: %.3f s, peak memory: %.3f GB, weights: %.3f GB\n", load_seconds,
              static_cast<double>(r.peak_memory_bytes) / 1e9, static_cast<double>(weights) / 1e9);
  if (!r.tg_tps.empty()) {
    const std::string cache = flags.n_depth > 0 ? " (" + std::to_string(cache_read / 1e9).substr(0, 5) + " GB of it cache)" : "";
    std::printf("memory bandwidth: %.1f-%.1f GB/s (read, %d threads; per tg run, the larger of probes right before and "
                "after it); %s reads %.3f GB per token%s: %.0f %% of the bandwidth limit (mean over the runs, each "
                "against its own)\n",
                *low / 1e9, *high / 1e9, threads, tg.c_str(), per_token / 1e9, cache.c_str(), 100.0 * tg_fraction);
  }
  std::fflush(stdout);
}

void setup(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  add_model_flags(app, flags->model);
  add_decoding_flags(app, flags->model);
  app.add_option("-p,--n-prompt", flags->n_prompt, "Prompt tokens for the pp test (0: skip)")->capture_default_str();
  app.add_option("-n,--n-gen", flags->n_gen, "Generated tokens for the tg test (0: skip)")->capture_default_str();
  app.add_option("-r,--repetitions", flags->repetitions, "Repetitions of each test")->capture_default_str();
  app.add_option("-d,--n-depth", flags->n_depth, "Tokens already in the cache when each test starts")->capture_default_str();
  app.add_option("-t,--threads", flags->threads, "CPU threads (default: TESSERA_NUM_THREADS or all cores)");
  app.add_flag("--json", flags->json, "Print one JSON object per configuration");
  app.callback([flags] { run(*flags); });
}

const bool registered = register_command({"bench", "Prompt-processing and generation speed, like llama-bench", setup});

}  // namespace
}  // namespace tessera::cli
