#include "tessera/lm/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tessera::lm {

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A special token in tokenizer_config.json: a string, or an AddedToken object {"content": ...}.
std::string token_text(const nlohmann::ordered_json& config, const char* key, const fs::path& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    return "";
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  throw std::runtime_error(path.string() + ": " + key + " must be a string or an object with \"content\"");
}

std::string template_from_config(const nlohmann::ordered_json& config, const fs::path& path) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) {
    return "";
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
    throw std::runtime_error(path.string() + ": chat_template list has no template named \"default\"");
  }
  throw std::runtime_error(path.string() + ": chat_template must be a string or a list of {name, template}");
}

}  // namespace

ChatTemplate ChatTemplate::from_folder(const std::string& dir) {
  const fs::path folder(dir);
  const fs::path config_path = folder / "tokenizer_config.json";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (fs::exists(config_path)) {
    try {
      config = nlohmann::ordered_json::parse(read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(config_path.string() + ": invalid JSON: " + e.what());
    }
    if (!config.is_object()) {
      throw std::runtime_error(config_path.string() + ": expected a JSON object");
    }
  }
  const fs::path jinja_path = folder / "chat_template.jinja";
  std::string source = fs::exists(jinja_path) ? read_file(jinja_path) : template_from_config(config, config_path);
  if (source.empty()) {
    return ChatTemplate();
  }
  try {
    ChatTemplate chat(std::move(source), token_text(config, "bos_token", config_path),
                      token_text(config, "eos_token", config_path));
    for (const char* name : {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
      std::string token = token_text(config, name, config_path);
      if (!token.empty()) {
        chat.other_tokens_.emplace_back(name, std::move(token));
      }
    }
    return chat;
  } catch (const jinja::TemplateError& e) {
    throw jinja::TemplateError("chat template of " + dir + ": " + e.what());
  }
}

ChatTemplate::ChatTemplate(std::string source, std::string bos_token, std::string eos_token)
    : source_(std::move(source)),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)),
      template_(std::make_shared<const jinja::Template>(source_)) {}

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                bool add_generation_prompt, const nlohmann::ordered_json& template_kwargs) const {
  if (!template_) {
    throw std::runtime_error("this model has no chat template");
  }
  if (!messages.is_array()) {
    throw std::runtime_error("messages must be a list");
  }
  if (!tools.is_null() && !tools.is_array()) {
    throw std::runtime_error("tools must be null or a list");
  }
  if (!template_kwargs.is_null() && !template_kwargs.is_object()) {
    throw std::runtime_error("template kwargs must be an object");
  }
  // The variables transformers passes, in its order; extra kwargs override earlier names.
  jinja::Value variables = jinja::Value::dict();
  jinja::Dict& vars = variables.as_dict();
  vars.set("messages", jinja::from_json(messages));
  vars.set("tools", jinja::from_json(tools));
  vars.set("documents", jinja::Value::none());
  vars.set("add_generation_prompt", jinja::Value(add_generation_prompt));
  // Unset special tokens are absent from transformers' special_tokens_map, so undefined here.
  if (!bos_token_.empty()) {
    vars.set("bos_token", jinja::Value(bos_token_));
  }
  if (!eos_token_.empty()) {
    vars.set("eos_token", jinja::Value(eos_token_));
  }
  for (const auto& [name, token] : other_tokens_) {
    vars.set(jinja::Value(name), jinja::Value(token));
  }
  if (template_kwargs.is_object()) {
    for (const auto& [key, value] : template_kwargs.items()) {
      vars.set(jinja::Value(key), jinja::from_json(value));
    }
  }
  return template_->render(variables);
}

}  // namespace tessera::lm
