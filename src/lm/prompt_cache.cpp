#include "tessera/lm/prompt_cache.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "forward.h"
#include "tessera/io.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/kv_cache.h"
#include "tessera/lm/quantized_kv_cache.h"
#include "tessera/lm/tokenizer.h"

namespace tessera::lm {

namespace {

namespace fs = std::filesystem;

// FNV-1a: a stable fingerprint of a file's bytes (not a security measure).
std::string fnv1a_hex(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string tokenizer_fingerprint(const LoadedModel& loaded) {
  std::string hash = "none";
  for (const char* name : {"tokenizer.json", "tokenizer.json.gz", "tokenizer.model"}) {
    fs::path file = fs::path(loaded.path) / name;
    if (fs::exists(file)) {
      hash = fnv1a_hex(read_bytes(file));
      break;
    }
  }
  size_t vocab = loaded.tokenizer ? loaded.tokenizer->vocab_size() : 0;
  return "vocab=" + std::to_string(vocab) + ";fnv1a64=" + hash;
}

std::shared_ptr<KVCache> make_layer_cache(const std::string& class_name, const PromptCacheMetadata& meta,
                                          const std::string& path, int layer) {
  if (class_name == "KVCache") return std::make_shared<StandardKVCache>();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    if (it == meta.end()) {
      throw std::runtime_error(path + ": layer " + std::to_string(layer) + " (" + class_name + ") lacks '" + key +
                               "' in its metadata.");
    }
    try {
      return std::stoi(it->second);
    } catch (const std::exception&) {
      throw std::runtime_error(path + ": layer " + std::to_string(layer) + " metadata '" + key +
                               "' is not an integer.");
    }
  };
  if (class_name == "QuantizedKVCache") {
    try {
      return std::make_shared<QuantizedKVCache>(get("bits"), get("group_size"), get("start"));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(path + ": layer " + std::to_string(layer) + ": " + e.what());
    }
  }
  if (class_name == "RotatingKVCache") {
    int max_size = get("max_size");
    int keep = get("keep");
    if (keep < 0 || max_size <= keep) {
      throw std::runtime_error(path + ": layer " + std::to_string(layer) + " has an inconsistent max_size/keep.");
    }
    return std::make_shared<RotatingKVCache>(max_size, keep);
  }
  throw std::runtime_error(path + ": layer " + std::to_string(layer) + " has an unknown cache class '" + class_name +
                           "'.");
}

}  // namespace

Cache make_prompt_cache(const Model& model, std::optional<int> max_kv_size) { return model.make_cache(max_kv_size); }

void save_prompt_cache(const std::string& path, const Cache& cache, const PromptCacheMetadata& metadata) {
  std::unordered_map<std::string, array> tensors;
  std::unordered_map<std::string, std::string> meta;
  for (size_t l = 0; l < cache.size(); ++l) {
    const std::string layer = std::to_string(l);
    std::vector<array> state = cache[l]->state();
    for (size_t i = 0; i < state.size(); ++i) tensors.emplace(layer + "." + std::to_string(i), state[i]);
    for (const auto& [key, value] : cache[l]->meta_state()) meta["0." + layer + "." + key] = value;
    meta["2." + layer] = cache[l]->name();
  }
  for (const auto& [key, value] : metadata) meta["1." + key] = value;
  save_safetensors(path, tensors, meta);
}

LoadedPromptCache load_prompt_cache(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error(path + ": prompt cache file not found.");
  SafetensorsFile file;
  try {
    file = load_safetensors(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("not a prompt cache file: ") + e.what());
  }
  // Layer classes "2.L" say how many layers there are.
  int layers = 0;
  while (file.metadata.count("2." + std::to_string(layers))) ++layers;
  if (layers == 0) throw std::runtime_error(path + ": not a prompt cache file (no cache classes in its metadata).");

  LoadedPromptCache out;
  size_t tensors_used = 0;
  for (const auto& [key, value] : file.metadata) {
    if (key.starts_with("1.")) out.metadata[key.substr(2)] = value;
  }
  for (int l = 0; l < layers; ++l) {
    const std::string layer = std::to_string(l);
    PromptCacheMetadata meta;
    const std::string prefix = "0." + layer + ".";
    for (const auto& [key, value] : file.metadata) {
      if (key.starts_with(prefix)) meta[key.substr(prefix.size())] = value;
    }
    auto cache = make_layer_cache(file.metadata.at("2." + layer), meta, path, l);
    // State arrays L.0, L.1, ... (keys and values; codes, scales and biases when quantized).
    std::vector<array> state;
    for (auto it = file.tensors.find(layer + ".0"); it != file.tensors.end();
         it = file.tensors.find(layer + "." + std::to_string(state.size()))) {
      state.push_back(it->second);
    }
    tensors_used += state.size();
    try {
      if (!state.empty()) cache->set_state(state);
      cache->set_meta_state(meta);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": layer " + layer + ": " + e.what());
    }
    out.cache.push_back(cache);
  }
  if (file.tensors.size() != tensors_used) {
    throw std::runtime_error(path + ": tensors beyond the " + std::to_string(layers) + " layers of its metadata.");
  }
  int offset = out.cache[0]->offset();
  for (const auto& c : out.cache) {
    if (c->offset() != offset) throw std::runtime_error(path + ": the layers hold different numbers of tokens.");
  }
  return out;
}

bool can_trim_prompt_cache(const Cache& cache) {
  for (const auto& c : cache) {
    if (!c->is_trimmable()) return false;
  }
  return !cache.empty();
}

int trim_prompt_cache(Cache& cache, int n) {
  if (!can_trim_prompt_cache(cache) || n <= 0) return 0;
  int trimmed = 0;
  for (auto& c : cache) trimmed = c->trim(n);
  return trimmed;
}

void fill_prompt_cache(Model& model, const std::vector<int>& ids, Cache& cache, int prefill_step_size) {
  if (prefill_step_size < 1) throw std::invalid_argument("[prompt_cache] prefill_step_size must be >= 1.");
  detail::prefill(model, ids.data(), ids.size(), cache, prefill_step_size);
}

PromptCacheMetadata model_fingerprint(const LoadedModel& loaded) {
  PromptCacheMetadata m;
  m["model"] = fs::absolute(loaded.path).lexically_normal().string();
  m["model_name"] = fs::path(loaded.path).lexically_normal().filename().string();
  if (m["model_name"].empty()) m["model_name"] = fs::path(loaded.path).lexically_normal().parent_path().filename();
  m["model_type"] = loaded.model->model_type();
  m["model_config"] = fnv1a_hex(loaded.config.dump());
  m["vocab_size"] = std::to_string(loaded.model->vocab_size());
  m["num_layers"] = std::to_string(loaded.model->num_layers());
  m["tokenizer"] = tokenizer_fingerprint(loaded);
  return m;
}

void check_prompt_cache_matches(const LoadedPromptCache& cache, const LoadedModel& loaded, const std::string& path) {
  PromptCacheMetadata mine = model_fingerprint(loaded);
  auto differs = [&](const char* key, const char* what) {
    auto it = cache.metadata.find(key);
    if (it != cache.metadata.end() && it->second != mine[key]) {
      auto made = cache.metadata.find("model");
      throw std::runtime_error(path + ": this prompt cache was made with another " + what + " (" +
                               (made != cache.metadata.end() ? made->second : std::string("unknown model")) +
                               ") than " + loaded.path + ".");
    }
  };
  differs("model_type", "model type");
  differs("vocab_size", "vocabulary");
  differs("num_layers", "model");
  differs("tokenizer", "tokenizer");
  differs("model_config", "model");
  if (static_cast<int>(cache.cache.size()) != loaded.model->num_layers()) {
    throw std::runtime_error(path + ": the cache has " + std::to_string(cache.cache.size()) + " layers, " +
                             loaded.path + " has " + std::to_string(loaded.model->num_layers()) + ".");
  }
}

std::string render_unfinished_user_turn(const LoadedModel& loaded, const std::string& prompt,
                                        const nlohmann::ordered_json& template_kwargs) {
  const std::string marker = "<query>";
  auto render = [&](const std::string& content) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    messages.push_back({{"role", "user"}, {"content", content}});
    return loaded.chat_template->apply(messages, nlohmann::ordered_json(), false, template_kwargs);
  };
  std::string test = render(marker);
  size_t at = test.find(marker);
  if (at == std::string::npos) throw std::runtime_error("The chat template does not render the user's message.");
  // The text after the user's content (the end of the turn) is the same for any content.
  size_t tail = test.size() - at - marker.size();
  std::string full = render(prompt);
  return full.substr(0, full.size() - tail);
}

std::string render_cached_turn_suffix(const LoadedModel& loaded, const nlohmann::ordered_json& messages,
                                      const nlohmann::ordered_json& template_kwargs) {
  const std::string marker = "<query>";
  nlohmann::ordered_json test_messages = messages;
  test_messages.back()["content"] = marker;
  std::string test = loaded.chat_template->apply(test_messages, nlohmann::ordered_json(), true, template_kwargs);
  size_t at = test.find(marker);
  if (at == std::string::npos) throw std::runtime_error("The chat template does not render the user's message.");
  std::string full = loaded.chat_template->apply(messages, nlohmann::ordered_json(), true, template_kwargs);
  return full.substr(at);
}

}  // namespace tessera::lm
