// A model's chat template, rendered as transformers' apply_chat_template renders it.
#pragma once

#include "tessera/lm/jinja.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::lm {

class ChatTemplate {
 public:
  // Reads DIR/chat_template.jinja if present, else tokenizer_config.json's chat_template (a
  // string, or a list of {name, template} from which "default" is taken), plus its bos_token
  // and eos_token (a string or {"content": ...}). A folder without a template gives an empty
  // ChatTemplate. Throws on unreadable or malformed files and on template syntax errors.
  static ChatTemplate from_folder(const std::string& dir);

  ChatTemplate() = default;
  // Parses `source` once; throws jinja::TemplateError on a syntax error.
  ChatTemplate(std::string source, std::string bos_token, std::string eos_token);

  bool empty() const { return !template_; }
  const std::string& source() const { return source_; }

  // messages: list of {"role", "content", ...}; tools: null or a list; template_kwargs: an
  // object of extra template variables. Use ordered_json so that object keys keep their order
  // in tojson output, as Python dicts do. Throws jinja::TemplateError (jinja::RaisedError for
  // the template's raise_exception).
  std::string apply(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                    bool add_generation_prompt, const nlohmann::ordered_json& template_kwargs) const;

 private:
  std::string source_;
  std::string bos_token_;
  std::string eos_token_;
  // The other named special tokens of tokenizer_config.json (unk_token, pad_token, ...), which
  // transformers also passes to the template.
  std::vector<std::pair<std::string, std::string>> other_tokens_;
  std::shared_ptr<const jinja::Template> template_;
};

}  // namespace tessera::lm
