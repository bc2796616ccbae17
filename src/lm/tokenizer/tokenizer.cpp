#include "tessera/lm/tokenizer.h"

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include <filesystem>
#include <stdexcept>

#include "lm/tokenizer/json_util.h"
#include "lm/tokenizer/tokenizer_impl.h"
#include "lm/tokenizer/unicode.h"

namespace tessera::lm {

namespace tokenizer_detail {

TokenizerImpl::TokenizerImpl() = default;
TokenizerImpl::~TokenizerImpl() = default;

std::vector<int> TokenizerImpl::encode(std::string_view text, bool add_special_tokens) const {
  std::string valid = to_valid_utf8(text);
  std::vector<int> ids;
  bool template_applied = false;
  if (pipeline) {
    pipeline->encode(valid, ids);
    if (add_special_tokens && pipeline->post_processor) {
      pipeline->post_processor->process(ids);
      template_applied = true;
    }
  } else {
    auto status = sentencepiece->Encode(valid, &ids);
    if (!status.ok()) throw std::runtime_error("sentencepiece encode failed: " + status.ToString());
  }
  if (add_special_tokens && !template_applied) {
    if (add_bos_token) {
      if (auto bos = token_to_id(bos_token)) ids.insert(ids.begin(), *bos);
    }
    if (add_eos_token) {
      if (auto eos = token_to_id(eos_token)) ids.push_back(*eos);
    }
  }
  return ids;
}

std::string TokenizerImpl::decode(const std::vector<int>& ids, bool skip_special_tokens) const {
  if (pipeline) return pipeline->decode(ids, skip_special_tokens);
  std::vector<int> kept;
  kept.reserve(ids.size());
  for (int id : ids) {
    if (id < 0 || id >= sentencepiece->GetPieceSize()) {
      throw std::out_of_range("token id " + std::to_string(id) + " is out of range");
    }
    if (!skip_special_tokens || !is_special(id)) kept.push_back(id);
  }
  std::string text;
  auto status = sentencepiece->Decode(kept, &text);
  if (!status.ok()) throw std::runtime_error("sentencepiece decode failed: " + status.ToString());
  return text;
}

std::optional<std::string> TokenizerImpl::id_to_token(int id) const {
  if (pipeline) return pipeline->id_to_token(id);
  if (id < 0 || id >= sentencepiece->GetPieceSize()) return std::nullopt;
  return sentencepiece->IdToPiece(id);
}

std::optional<int> TokenizerImpl::token_to_id(const std::string& token) const {
  if (token.empty()) return std::nullopt;
  if (pipeline) {
    if (auto id = pipeline->added.token_to_id(token)) return id;
    return pipeline->model->token_to_id(token);
  }
  int id = sentencepiece->PieceToId(token);
  if (id == sentencepiece->unk_id() && token != sentencepiece->IdToPiece(id)) return std::nullopt;
  return id;
}

size_t TokenizerImpl::vocab_size() const {
  if (!pipeline) return static_cast<size_t>(sentencepiece->GetPieceSize());
  return std::max(pipeline->model->vocab_size(), static_cast<size_t>(pipeline->added.max_id() + 1));
}

bool TokenizerImpl::is_special(int id) const {
  if (pipeline) return pipeline->added.is_special_id(id);
  return sentencepiece->IsControl(id) || sentencepiece->IsUnknown(id);
}

}  // namespace tokenizer_detail

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tokenizer_detail::TokenizerImpl;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A special token in tokenizer_config.json: a string or {"content": ...}.
std::string token_string(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return "";
}

// chat_template: a string, or a list of {"name", "template"} of which "default" is used.
std::string chat_template_of(const json& config, const std::string& file) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
    return "";
  }
  throw std::runtime_error(file + ": chat_template must be a string or a list of templates");
}

void apply_config(TokenizerImpl& impl, const std::string& config_path) {
  json config = tokenizer_detail::parse_json(tokenizer_detail::read_file(config_path), config_path);
  if (!config.is_object()) throw std::runtime_error(config_path + ": expected a JSON object");
  if (auto bos = token_string(config, "bos_token"); !bos.empty()) impl.bos_token = bos;
  if (auto eos = token_string(config, "eos_token"); !eos.empty()) impl.eos_token = eos;
  if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
    impl.add_bos_token = config["add_bos_token"].get<bool>();
  }
  if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
    impl.add_eos_token = config["add_eos_token"].get<bool>();
  }
  impl.chat_template = chat_template_of(config, config_path);
}

std::shared_ptr<TokenizerImpl> load_tokenizer_file(const std::string& path) {
  auto impl = std::make_shared<TokenizerImpl>();
  if (ends_with(path, ".model")) {
    impl->sentencepiece = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto status = impl->sentencepiece->Load(path);
    if (!status.ok()) throw std::runtime_error(path + ": " + status.ToString());
    // SentencePiece models add BOS unless the config says otherwise.
    impl->add_bos_token = true;
    const auto& sp = *impl->sentencepiece;
    if (sp.bos_id() >= 0) impl->bos_token = sp.IdToPiece(sp.bos_id());
    if (sp.eos_id() >= 0) impl->eos_token = sp.IdToPiece(sp.eos_id());
  } else {
    impl->pipeline =
        tokenizer_detail::Pipeline::from_json_text(tokenizer_detail::read_file(path), path);
  }
  return impl;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json,
                               const std::string& tokenizer_config) {
  auto impl = load_tokenizer_file(tokenizer_json);
  if (!tokenizer_config.empty()) apply_config(*impl, tokenizer_config);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_folder(const std::string& dir) {
  fs::path folder(dir);
  if (!fs::is_directory(folder)) throw std::runtime_error("not a folder: " + dir);
  std::string file;
  for (const char* name : {"tokenizer.json", "tokenizer.json.gz", "tokenizer.model"}) {
    if (fs::exists(folder / name)) {
      file = (folder / name).string();
      break;
    }
  }
  if (file.empty()) {
    throw std::runtime_error(dir + ": no tokenizer.json, tokenizer.json.gz or tokenizer.model");
  }
  auto impl = load_tokenizer_file(file);
  if (fs::exists(folder / "tokenizer_config.json")) {
    apply_config(*impl, (folder / "tokenizer_config.json").string());
  }
  fs::path jinja = folder / "chat_template.jinja";
  if (fs::exists(jinja)) impl->chat_template = tokenizer_detail::read_file(jinja.string());
  return Tokenizer(std::move(impl));
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

std::string Tokenizer::id_to_token(int id) const {
  auto token = impl_->id_to_token(id);
  if (!token) throw std::out_of_range("token id " + std::to_string(id) + " is out of range");
  return *token;
}

std::optional<int> Tokenizer::token_to_id(const std::string& token) const {
  return impl_->token_to_id(token);
}

size_t Tokenizer::vocab_size() const {
  return impl_->vocab_size();
}

std::optional<int> Tokenizer::bos_token_id() const {
  return impl_->token_to_id(impl_->bos_token);
}

std::vector<int> Tokenizer::eos_token_ids() const {
  if (auto id = impl_->token_to_id(impl_->eos_token)) return {*id};
  return {};
}

const std::string& Tokenizer::bos_token() const {
  return impl_->bos_token;
}

const std::string& Tokenizer::eos_token() const {
  return impl_->eos_token;
}

bool Tokenizer::is_special(int id) const {
  return impl_->is_special(id);
}

const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template;
}

bool Tokenizer::has_chat_template() const {
  return !impl_->chat_template.empty();
}

StreamingDetokenizer Tokenizer::detokenizer() const {
  return StreamingDetokenizer(impl_);
}

}  // namespace tessera::lm
