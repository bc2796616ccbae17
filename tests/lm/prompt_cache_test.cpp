// Prompt cache files on the demo model: continuing from a saved cache gives exactly the tokens
// of a full prefill; bad files and caches of other models are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tessera/io.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/kv_cache.h"
#include "tessera/lm/prompt_cache.h"
#include "tessera/ops.h"

namespace tx = tessera;
namespace fs = std::filesystem;
using tx::lm::Cache;
using tx::lm::GenerateOptions;

namespace {

const tx::lm::LoadedModel& demo() {
  static tx::lm::LoadedModel loaded = tx::lm::load("models/stories260K");
  return loaded;
}

// A scratch folder for this process's cache files, removed at exit.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("tessera-prompt-cache-" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path scratch(const std::string& name) {
  static ScratchDir dir;
  return dir.path / name;
}

std::vector<int> greedy(const std::vector<int>& prompt, int n, Cache* cache = nullptr) {
  GenerateOptions options;
  options.max_tokens = n;
  options.prompt_cache = cache;
  std::vector<int> out;
  tx::lm::stream_generate(demo(), prompt, options, [&](const tx::lm::GenerationResponse& r) {
    out.push_back(r.token);
    return true;
  });
  return out;
}

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::string kPrefix = "Once upon a time, there was a little girl named Lily. She loved to play outside";
const std::string kQuestion = " in the park. One day, she";

std::string saved_demo_cache(const std::string& name, std::optional<int> max_kv_size = {}) {
  auto& loaded = demo();
  Cache cache = tx::lm::make_prompt_cache(*loaded.model, max_kv_size);
  tx::lm::fill_prompt_cache(*loaded.model, loaded.tokenizer->encode(kPrefix, true), cache, 7);
  std::string path = scratch(name).string();
  tx::lm::save_prompt_cache(path, cache, tx::lm::model_fingerprint(loaded));
  return path;
}

}  // namespace

TEST(PromptCache, SaveLoadRoundTripKeepsStateAndMetadata) {
  auto& loaded = demo();
  std::vector<int> ids = loaded.tokenizer->encode(kPrefix, true);
  Cache cache = tx::lm::make_prompt_cache(*loaded.model);
  tx::lm::fill_prompt_cache(*loaded.model, ids, cache);
  std::string path = scratch("roundtrip.safetensors").string();
  tx::lm::save_prompt_cache(path, cache, {{"note", "hello"}});

  auto file = tx::load_safetensors(path);
  ASSERT_TRUE(file.tensors.count("0.0"));
  EXPECT_EQ(file.tensors.at("0.0").shape(2), static_cast<int64_t>(ids.size()));  // trimmed to the offset
  EXPECT_EQ(file.metadata.at("2.0"), "KVCache");

  auto back = tx::lm::load_prompt_cache(path);
  ASSERT_EQ(back.cache.size(), cache.size());
  EXPECT_EQ(back.metadata.at("note"), "hello");
  for (size_t l = 0; l < cache.size(); ++l) {
    EXPECT_EQ(back.cache[l]->offset(), static_cast<int>(ids.size()));
    auto a = cache[l]->state();
    auto b = back.cache[l]->state();
    EXPECT_TRUE(tx::all(tx::equal(a[0], b[0])).item<bool>());
    EXPECT_TRUE(tx::all(tx::equal(a[1], b[1])).item<bool>());
  }
}

TEST(PromptCache, LoadedCacheGivesTheTokensOfAFullPrefill) {
  auto& loaded = demo();
  std::vector<int> prefix = loaded.tokenizer->encode(kPrefix, true);
  std::vector<int> question = loaded.tokenizer->encode(kQuestion, false);
  std::vector<int> full = greedy(concat(prefix, question), 40);

  auto cached = tx::lm::load_prompt_cache(saved_demo_cache("full.safetensors"));
  tx::lm::check_prompt_cache_matches(cached, loaded, "full.safetensors");
  EXPECT_EQ(greedy(question, 40, &cached.cache), full);
  // The cache now also holds the question and the generated tokens but the last.
  EXPECT_EQ(cached.cache[0]->offset(), static_cast<int>(prefix.size() + question.size() + 39));
}

TEST(PromptCache, RotatingCacheRoundTrip) {
  auto& loaded = demo();
  std::vector<int> prefix = loaded.tokenizer->encode(kPrefix, true);
  std::vector<int> question = loaded.tokenizer->encode(kQuestion, false);
  Cache live = tx::lm::make_prompt_cache(*loaded.model, 16);
  tx::lm::fill_prompt_cache(*loaded.model, prefix, live, 7);
  auto file = tx::load_safetensors(saved_demo_cache("rotating.safetensors", 16));
  EXPECT_EQ(file.metadata.at("2.0"), "RotatingKVCache");
  EXPECT_EQ(file.metadata.at("0.0.max_size"), "16");

  auto cached = tx::lm::load_prompt_cache(scratch("rotating.safetensors").string());
  auto* rotating = dynamic_cast<tx::lm::RotatingKVCache*>(cached.cache[0].get());
  ASSERT_NE(rotating, nullptr);
  EXPECT_EQ(rotating->max_size(), 16);
  EXPECT_EQ(rotating->offset(), static_cast<int>(prefix.size()));
  EXPECT_EQ(greedy(question, 30, &cached.cache), greedy(question, 30, &live));
}

TEST(PromptCache, TrimDropsTheLastTokens) {
  auto& loaded = demo();
  std::vector<int> prefix = loaded.tokenizer->encode(kPrefix, true);
  auto cached = tx::lm::load_prompt_cache(saved_demo_cache("trim.safetensors"));
  ASSERT_TRUE(tx::lm::can_trim_prompt_cache(cached.cache));
  EXPECT_EQ(tx::lm::trim_prompt_cache(cached.cache, 5), 5);
  EXPECT_EQ(cached.cache[0]->offset(), static_cast<int>(prefix.size()) - 5);
  std::vector<int> tail(prefix.end() - 5, prefix.end());
  EXPECT_EQ(greedy(tail, 20, &cached.cache), greedy(prefix, 20));
}

TEST(PromptCache, MissingAndCorruptFilesAreRefused) {
  EXPECT_THROW(
      {
        try {
          tx::lm::load_prompt_cache(scratch("absent.safetensors").string());
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("absent.safetensors"), std::string::npos);
          throw;
        }
      },
      std::runtime_error);
  std::string path = saved_demo_cache("corrupt.safetensors");
  fs::resize_file(path, fs::file_size(path) / 2);
  EXPECT_THROW(tx::lm::load_prompt_cache(path), std::runtime_error);

  // A safetensors file that is not a prompt cache.
  std::string plain = scratch("plain.safetensors").string();
  tx::save_safetensors(plain, {{"w", tx::zeros({2, 2}, tx::float32)}});
  EXPECT_THROW(tx::lm::load_prompt_cache(plain), std::runtime_error);
}

TEST(PromptCache, CacheOfAnotherTokenizerOrModelIsRefused) {
  auto& loaded = demo();
  std::string path = saved_demo_cache("other.safetensors");
  auto cached = tx::lm::load_prompt_cache(path);
  cached.metadata["tokenizer"] = "vocab=512;fnv1a64=0000000000000000";
  try {
    tx::lm::check_prompt_cache_matches(cached, loaded, path);
    FAIL() << "a cache of another tokenizer was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another tokenizer"), std::string::npos) << e.what();
  }
  cached = tx::lm::load_prompt_cache(path);
  cached.metadata["model_type"] = "qwen3";
  EXPECT_THROW(tx::lm::check_prompt_cache_matches(cached, loaded, path), std::runtime_error);
  cached = tx::lm::load_prompt_cache(path);
  cached.cache.pop_back();
  EXPECT_THROW(tx::lm::check_prompt_cache_matches(cached, loaded, path), std::runtime_error);
}

TEST(PromptCache, CachedTurnAndQuestionRenderAsOneUserTurn) {
  tx::lm::LoadedModel loaded = demo();
  loaded.chat_template = std::make_shared<tx::lm::ChatTemplate>(
      "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
      "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
      "<s>", "</s>");
  auto kwargs = nlohmann::ordered_json::object();
  std::string prefix = tx::lm::render_unfinished_user_turn(loaded, kPrefix, kwargs);
  EXPECT_EQ(prefix, "<s><|user|>\n" + kPrefix);
  nlohmann::ordered_json question = nlohmann::ordered_json::array();
  question.push_back({{"role", "user"}, {"content", kQuestion}});
  std::string suffix = tx::lm::render_cached_turn_suffix(loaded, question, kwargs);
  EXPECT_EQ(suffix, kQuestion + "<|end|>\n<|assistant|>\n");
  nlohmann::ordered_json whole = nlohmann::ordered_json::array();
  whole.push_back({{"role", "user"}, {"content", kPrefix + kQuestion}});
  EXPECT_EQ(prefix + suffix, loaded.chat_template->apply(whole, nlohmann::ordered_json(), true, kwargs));
}
