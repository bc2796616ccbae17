// `tessera generate`: one prompt in, generated text out, as mlx_lm.generate prints it.
#include <cstdio>
#include <iostream>
#include <memory>

#include "command.h"
#include "model_options.h"
#include "power_options.h"

namespace tessera::cli {
namespace {

struct GenerateFlags {
  ModelFlags model;
  GenerationFlags generation;
  std::string prompt = "hello";
  std::string system_prompt;
  CLI::Option* system_prompt_option = nullptr;
  bool ignore_chat_template = false;
  std::string chat_template_config;
  std::string verbose = "true";
  PowerFlags power;
};

// mlx_lm's reading of --verbose: anything but "false" / "f" (any case) is true.
bool parse_verbose(std::string value) {
  for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value != "false" && value != "f";
}

void run(const GenerateFlags& flags) {
  bool verbose = parse_verbose(flags.verbose);
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();
  if (!flags.chat_template_config.empty()) {
    template_kwargs = parse_json_flag("--chat-template-config", flags.chat_template_config);
  }
  ModelFlags model_flags = flags.model;
  PowerSession power = open_power_session(flags.power, model_flags, template_kwargs);
  lm::LoadedModel loaded = load_model(model_flags, /*decoding=*/true);
  lm::GenerateOptions options = generate_options(flags.generation, loaded);
  attach_power_session(flags.power, power, loaded, options);

  bool templated = !flags.ignore_chat_template && has_chat_template(loaded);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (templated && flags.system_prompt_option->count() > 0) {
    messages.push_back({{"role", "system"}, {"content", flags.system_prompt}});
  }
  if (run_prompts_file(flags.power, power, loaded, options, messages, templated, verbose)) return;
  std::string prompt = read_prompt(flags.prompt);
  messages.push_back({{"role", "user"}, {"content", prompt}});
  std::vector<int> ids = encode_power_prompt(power, loaded, messages, templated);

  if (verbose) std::cout << "==========\n" << std::flush;
  std::string text;
  lm::GenerationResponse last;
  bool any = false;
  power_stream_generate(flags.power, power, loaded, ids, options, [&](const lm::GenerationResponse& r) {
    if (verbose) std::cout << r.text << std::flush;
    text += r.text;
    last = r;
    any = true;
    return true;
  });
  if (!verbose) {
    std::cout << text << "\n";
    return;
  }
  std::cout << "\n==========\n";
  if (text.empty() || !any) {
    std::cout << "No text generated for this prompt\n";
    return;
  }
  std::printf("Prompt: %d tokens, %.3f tokens-per-sec\n", last.prompt_tokens, last.prompt_tps);
  std::printf("Generation: %d tokens, %.3f tokens-per-sec\n", last.generation_tokens, last.generation_tps);
  std::printf("Peak memory: %.3f GB\n", last.peak_memory);
  std::fflush(stdout);
}

void setup(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  add_model_flags(app, flags->model);
  add_decoding_flags(app, flags->model);
  app.add_option("-p,--prompt", flags->prompt, "Message to be processed by the model ('-' reads from stdin)")
      ->capture_default_str();
  flags->system_prompt_option =
      app.add_option("--system-prompt", flags->system_prompt, "System prompt to be used for the chat template");
  app.add_flag("--ignore-chat-template", flags->ignore_chat_template,
               "Use the raw prompt without the tokenizer's chat template");
  app.add_option("--chat-template-config", flags->chat_template_config,
                 "Extra variables for the chat template, as a JSON object (e.g. '{\"enable_thinking\": false}')");
  add_generation_flags(app, flags->generation);
  add_power_flags(app, flags->power);
  app.add_option("--verbose", flags->verbose,
                 "'true' prints the text between ========== lines with speed and memory; 'false' only the text")
      ->capture_default_str();
  app.callback([flags] { run(*flags); });
}

const bool registered = register_command({"generate", "Generate text from a prompt", setup});

}  // namespace
}  // namespace tessera::cli
