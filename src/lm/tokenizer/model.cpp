#include "lm/tokenizer/model.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "lm/tokenizer/bpe.h"
#include "lm/tokenizer/json_util.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

StringIdMap parse_vocab(const json& spec, const std::string& file) {
  auto it = spec.find("vocab");
  if (it == spec.end() || !it->is_object()) {
    throw std::runtime_error(file + ": model needs a 'vocab' object");
  }
  StringIdMap vocab;
  vocab.reserve(it->size());
  for (const auto& [token, id] : it->items()) {
    if (!id.is_number_integer()) {
      throw std::runtime_error(file + ": vocab entry '" + token + "' is not an integer id");
    }
    vocab.emplace(token, id.get<int>());
  }
  return vocab;
}

// Merges come as "a b" strings (older files) or ["a", "b"] pairs.
std::vector<std::pair<std::string, std::string>> parse_merges(const json& spec,
                                                              const std::string& file) {
  std::vector<std::pair<std::string, std::string>> merges;
  auto it = spec.find("merges");
  if (it == spec.end() || it->is_null()) return merges;
  if (!it->is_array()) throw std::runtime_error(file + ": model 'merges' must be an array");
  merges.reserve(it->size());
  for (const auto& m : *it) {
    if (m.is_string()) {
      const auto& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        throw std::runtime_error(file + ": merge '" + s + "' is not two tokens");
      }
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw std::runtime_error(file + ": malformed merge " + m.dump());
    }
  }
  return merges;
}

std::string optional_string(const json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::unique_ptr<Model> make_model(const json& spec, const std::string& file) {
  if (!spec.is_object()) throw std::runtime_error(file + ": missing 'model' object");
  std::string type = spec.contains("type") ? get_string(spec, "type", file, "model")
                     : spec.contains("merges") ? "BPE"
                                               : "";
  if (type == "BPE") {
    BpeOptions options;
    if (spec.contains("unk_token") && spec["unk_token"].is_string()) {
      options.unk_token = spec["unk_token"].get<std::string>();
    }
    options.continuing_subword_prefix = optional_string(spec, "continuing_subword_prefix");
    options.end_of_word_suffix = optional_string(spec, "end_of_word_suffix");
    options.fuse_unk = spec.value("fuse_unk", false);
    options.byte_fallback = spec.value("byte_fallback", false);
    options.ignore_merges = spec.value("ignore_merges", false);
    return std::make_unique<Bpe>(parse_vocab(spec, file), parse_merges(spec, file),
                                 std::move(options), file);
  }
  throw std::runtime_error(file + ": unsupported model type '" + type + "'");
}

}  // namespace tessera::lm::tokenizer_detail
