#include "lm/tokenizer/model.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "lm/tokenizer/bpe.h"
#include "lm/tokenizer/json_reader.h"
#include "lm/tokenizer/json_util.h"
#include "lm/tokenizer/wordpiece.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

std::string optional_string(const json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::unique_ptr<Model> make_model(TokenizerJson& data, const std::string& file) {
  const json& spec = data.root["model"];
  if (!spec.is_object()) throw std::runtime_error(file + ": missing 'model' object");
  std::string type = spec.contains("type") ? get_string(spec, "type", file, "model")
                     : data.merges.size() > 0  ? "BPE"
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
    if (!data.has_vocab) throw std::runtime_error(file + ": model needs a 'vocab' object");
    TokenTable vocab(std::move(data.vocab_tokens), data.vocab_ids, file);
    return std::make_unique<Bpe>(std::move(vocab), data.merges, std::move(options), file);
  }
  if (type == "WordPiece") {
    if (!data.has_vocab) throw std::runtime_error(file + ": model needs a 'vocab' object");
    TokenTable vocab(std::move(data.vocab_tokens), data.vocab_ids, file);
    return std::make_unique<WordPiece>(std::move(vocab), spec.value("unk_token", "[UNK]"),
                                       spec.value("continuing_subword_prefix", "##"),
                                       spec.value("max_input_chars_per_word", size_t{100}));
  }
  throw std::runtime_error(file + ": unsupported model type '" + type + "'");
}

}  // namespace tessera::lm::tokenizer_detail
