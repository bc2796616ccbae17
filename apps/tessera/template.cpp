// `tessera template`: renders a conversation through a model's chat template, exactly as
// transformers' apply_chat_template(tokenize=False) would, and prints it unchanged.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

#include "command.h"
#include "tessera/lm/chat_template.h"

namespace tessera::cli {
namespace {

struct TemplateFlags {
  std::string model;
  std::string messages;
  std::string tools;
  std::string config;
  bool add_generation_prompt = false;
};

nlohmann::ordered_json read_json_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path)) {
    throw std::runtime_error(flag + ": cannot read " + path);
  }
  try {
    return nlohmann::ordered_json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(flag + ": " + path + " is not valid JSON: " + e.what());
  }
}

void run(const TemplateFlags& flags) {
  nlohmann::ordered_json messages = read_json_file("--messages", flags.messages);
  if (!messages.is_array()) {
    throw std::runtime_error("--messages: " + flags.messages + " must hold a JSON list of messages");
  }
  nlohmann::ordered_json tools;
  if (!flags.tools.empty()) {
    tools = read_json_file("--tools", flags.tools);
    if (!tools.is_array() && !tools.is_null()) {
      throw std::runtime_error("--tools: " + flags.tools + " must hold a JSON list of tools");
    }
  }
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();
  if (!flags.config.empty()) {
    try {
      kwargs = nlohmann::ordered_json::parse(flags.config);
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(std::string("--chat-template-config is not valid JSON: ") + e.what());
    }
    if (!kwargs.is_object()) {
      throw std::runtime_error("--chat-template-config must be a JSON object, e.g. '{\"enable_thinking\": false}'");
    }
  }
  const lm::ChatTemplate chat = lm::ChatTemplate::from_folder(flags.model);
  if (chat.empty()) {
    throw std::runtime_error(flags.model + " has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)");
  }
  const std::string prompt = chat.apply(messages, tools, flags.add_generation_prompt, kwargs);
  std::cout.write(prompt.data(), static_cast<std::streamsize>(prompt.size()));
  std::cout.flush();
}

const bool registered = register_command({
    "template",
    "Render messages through a model's chat template and print the prompt exactly",
    [](CLI::App& app) {
      auto flags = std::make_shared<TemplateFlags>();
      flags->model = default_model_path();
      app.add_option("--model", flags->model, "Folder with chat_template.jinja or tokenizer_config.json")
          ->capture_default_str();
      app.add_option("--messages", flags->messages, "JSON file with the list of {\"role\", \"content\", ...} messages")
          ->required();
      app.add_flag("--add-generation-prompt", flags->add_generation_prompt,
                   "End with the header that starts the assistant's turn");
      app.add_option("--tools", flags->tools, "JSON file with the list of tool (function) descriptions");
      app.add_option("--chat-template-config", flags->config,
                     "Extra template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
      app.callback([flags] { run(*flags); });
    },
});

}  // namespace
}  // namespace tessera::cli
