#include <nlohmann/json.hpp>

#include <stdexcept>

#include "lm/tokenizer/json_reader.h"
#include "lm/tokenizer/json_util.h"
#include "lm/tokenizer/string_map.h"
#include "lm/tokenizer/tokenizer_impl.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

bool present(const json& root, const char* key) {
  auto it = root.find(key);
  return it != root.end() && !it->is_null();
}

std::vector<AddedToken> parse_added_tokens(const json& root, const std::string& file) {
  std::vector<AddedToken> tokens;
  if (!present(root, "added_tokens")) return tokens;
  for (const auto& t : get_array(root, "added_tokens", file, "tokenizer")) {
    AddedToken token;
    if (!t.contains("id") || !t["id"].is_number_integer()) {
      throw std::runtime_error(file + ": added token without an integer id: " + t.dump());
    }
    token.id = t["id"].get<int>();
    token.content = get_string(t, "content", file, "added token");
    token.special = t.value("special", false);
    token.lstrip = t.value("lstrip", false);
    token.rstrip = t.value("rstrip", false);
    token.single_word = t.value("single_word", false);
    token.normalized = t.value("normalized", !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// The library ignores the ids written in added_tokens: a token already in the vocabulary keeps
// its id, a new one is numbered on from the vocabulary's token count, in file order.
void assign_added_ids(std::vector<AddedToken>& tokens, const Model& model) {
  StringIdMap assigned;
  int next_id = static_cast<int>(model.token_count());
  std::vector<AddedToken> kept;
  for (auto& token : tokens) {
    if (token.content.empty()) continue;
    if (auto it = assigned.find(token.content); it != assigned.end()) {
      token.id = it->second;
    } else if (auto id = model.token_to_id(token.content)) {
      token.id = *id;
    } else {
      token.id = next_id++;
    }
    assigned[token.content] = token.id;
    kept.push_back(std::move(token));
  }
  tokens = std::move(kept);
}

}  // namespace

std::unique_ptr<Pipeline> Pipeline::from_json_text(const std::string& text, const std::string& file) {
  TokenizerJson data = read_tokenizer_json(text, file);
  const json& root = data.root;
  if (!root.contains("model")) {
    throw std::runtime_error(file + ": not a tokenizer.json (no 'model' object)");
  }
  try {
    auto p = std::make_unique<Pipeline>();
    if (present(root, "normalizer")) p->normalizer = make_normalizer(root["normalizer"], file);
    if (present(root, "pre_tokenizer")) {
      p->pre_tokenizer = make_pre_tokenizer(root["pre_tokenizer"], file);
    }
    p->model = make_model(data, file);
    if (present(root, "post_processor")) {
      p->post_processor = make_post_processor(root["post_processor"], file);
    }
    if (present(root, "decoder")) p->decoder = make_decoder(root["decoder"], file);
    auto added_tokens = parse_added_tokens(root, file);
    assign_added_ids(added_tokens, *p->model);
    p->added = AddedVocabulary(std::move(added_tokens), p->normalizer.get());
    return p;
  } catch (const json::exception& e) {
    throw std::runtime_error(file + ": unexpected tokenizer.json content: " + e.what());
  }
}

void Pipeline::encode(std::string_view text, std::vector<int>& ids) const {
  for (const auto& raw : added.split(text, false)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    if (raw.end == raw.start) continue;
    std::string normalized(text.substr(raw.start, raw.end - raw.start));
    if (normalizer) normalizer->normalize(normalized);
    for (const auto& piece : added.split(normalized, true)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
      } else if (piece.end > piece.start) {
        encode_normalized(std::string_view(normalized).substr(piece.start, piece.end - piece.start),
                          raw.start == 0 && piece.start == 0, ids);
      }
    }
  }
}

void Pipeline::encode_normalized(std::string_view text, bool at_origin,
                                 std::vector<int>& ids) const {
  if (!pre_tokenizer) {
    model->tokenize(text, ids);
    return;
  }
  std::vector<PreToken> pieces;
  pieces.push_back({std::string(text), at_origin});
  pre_tokenizer->pre_tokenize(pieces);
  for (const auto& piece : pieces) {
    if (!piece.text.empty()) model->tokenize(piece.text, ids);
  }
}

std::optional<std::string> Pipeline::id_to_token(int id) const {
  if (const std::string* s = added.decode_form(id)) return *s;
  if (const std::string* s = model->id_to_token(id)) return *s;
  return std::nullopt;
}

std::string Pipeline::decode(const std::vector<int>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int id : ids) {
    const std::string* s = added.decode_form(id);
    if (!s) s = model->id_to_token(id);
    if (!s) throw std::out_of_range("token id " + std::to_string(id) + " is out of range");
    if (skip_special_tokens && added.is_special_content(*s)) continue;
    tokens.push_back(*s);
  }
  std::string out;
  if (decoder) {
    decoder->decode_chain(tokens);
    for (const auto& t : tokens) out += t;
  } else {
    for (size_t k = 0; k < tokens.size(); ++k) {
      if (k) out += ' ';
      out += tokens[k];
    }
  }
  return out;
}

}  // namespace tessera::lm::tokenizer_detail
