// Loading Hugging Face folders: layouts, sharding, generation config, dtype override, and
// one-line errors for bad input. Also the parsing of RoPE settings in both config layouts.
#include "lm/models/rope_config.h"
#include "tessera/io.h"
#include "tessera/lm/chat_template.h"
#include "tessera/lm/model.h"
#include "tessera/lm/quantize.h"
#include "tessera/ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tx = tessera;
namespace lm = tessera::lm;
namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

namespace {

fs::path fixtures_dir() {
  const char* env = std::getenv("TESSERA_FIXTURES_DIR");
  return env && *env ? fs::path(env) : fs::path("tests/fixtures");
}

const fs::path llama_dir() { return fixtures_dir() / "models" / "llama"; }

json read_json(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

// A scratch folder holding a copy of the llama fixture's config and weights.
class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tessera_load_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(llama_dir() / "config.json", dir_ / "config.json");
    fs::copy_file(llama_dir() / "model.safetensors", dir_ / "model.safetensors");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unordered_map<std::string, tx::array> llama_weights() {
    return tx::load_safetensors((llama_dir() / "model.safetensors").string()).tensors;
  }

  // The error message of load(dir_), or "" if it loads.
  std::string load_error(const lm::LoadOptions& options = {}) {
    try {
      lm::load(dir_.string(), options);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(LoadTest, LoadsFolderWithoutTokenizer) {
  auto loaded = lm::load(dir_.string());
  EXPECT_EQ(loaded.model->model_type(), "llama");
  EXPECT_EQ(loaded.tokenizer, nullptr);
  ASSERT_NE(loaded.chat_template, nullptr);
  EXPECT_TRUE(loaded.chat_template->empty());
  EXPECT_EQ(loaded.model->num_layers(), 2);
  EXPECT_EQ(loaded.model->vocab_size(), 512);
  // No generation_config.json: the ids come from config.json.
  EXPECT_EQ(loaded.generation_config.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(loaded.generation_config.bos_token_id, 1);
  // Weights are the checkpoint's arrays.
  EXPECT_EQ(loaded.model->parameters().size(), llama_weights().size());
  EXPECT_EQ(loaded.model->parameters().at("model.layers.1.mlp.down_proj.weight").shape(), (tx::Shape{64, 128}));
}

TEST_F(LoadTest, GenerationConfigEosMayBeAList) {
  write_text(dir_ / "generation_config.json", R"({"bos_token_id": 1, "eos_token_id": [2, 7]})");
  EXPECT_EQ(lm::load(dir_.string()).generation_config.eos_token_ids, (std::vector<int>{2, 7}));
  write_text(dir_ / "generation_config.json", R"({"eos_token_id": "two"})");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("generation_config.json"), HasSubstr("eos_token_id")));
}

TEST_F(LoadTest, DtypeOptionCastsWeights) {
  lm::LoadOptions options;
  options.dtype = tx::bfloat16;
  auto loaded = lm::load(dir_.string(), options);
  for (const auto& [name, w] : loaded.model->parameters()) {
    EXPECT_EQ(w.dtype(), tx::bfloat16) << name;
  }
  tx::array logits = (*loaded.model)(tx::array(std::vector<int>{1, 2, 3}, {1, 3}, tx::int32));
  EXPECT_EQ(logits.dtype(), tx::float32);
}

TEST_F(LoadTest, ShardedWeightsGiveTheSameLogits) {
  auto weights = llama_weights();
  std::unordered_map<std::string, tx::array> first, second;
  json index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  for (const auto& [name, w] : weights) {
    const bool in_first = name.find("layers.1.") == std::string::npos;
    (in_first ? first : second).emplace(name, w);
    index["weight_map"][name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  fs::remove(dir_ / "model.safetensors");
  tx::save_safetensors((dir_ / "model-00001-of-00002.safetensors").string(), first);
  tx::save_safetensors((dir_ / "model-00002-of-00002.safetensors").string(), second);
  write_text(dir_ / "model.safetensors.index.json", index.dump());

  tx::array tokens(std::vector<int>{5, 9, 100, 3}, {1, 4}, tx::int32);
  tx::array sharded = (*lm::load(dir_.string()).model)(tokens);
  tx::array single = (*lm::load(llama_dir().string()).model)(tokens);
  EXPECT_TRUE(tx::allclose(sharded, single, 0, 0));

  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  EXPECT_THAT(load_error(), HasSubstr("model-00002-of-00002.safetensors"));
}

TEST_F(LoadTest, MissingFolderOrConfigIsNamed) {
  EXPECT_THROW(
      {
        try {
          lm::load((dir_ / "nowhere").string());
        } catch (const std::runtime_error& e) {
          EXPECT_THAT(e.what(), HasSubstr("nowhere"));
          throw;
        }
      },
      std::runtime_error);
  fs::remove(dir_ / "config.json");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json"), HasSubstr("not found")));
}

TEST_F(LoadTest, MalformedConfigIsNamed) {
  write_text(dir_ / "config.json", R"({"model_type": "llama", "hidden_size": 64,)");
  const std::string error = load_error();
  EXPECT_THAT(error, AllOf(HasSubstr("config.json"), HasSubstr("malformed JSON")));
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST_F(LoadTest, MissingConfigKeyIsNamed) {
  json config = read_json(dir_ / "config.json");
  config.erase("num_attention_heads");
  write_text(dir_ / "config.json", config.dump());
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json"), HasSubstr("'num_attention_heads'")));
  config["num_attention_heads"] = "four";
  write_text(dir_ / "config.json", config.dump());
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json"), HasSubstr("must be an integer")));
}

TEST_F(LoadTest, UnknownModelTypeListsSupportedOnes) {
  json config = read_json(dir_ / "config.json");
  config["model_type"] = "gpt_neo";
  write_text(dir_ / "config.json", config.dump());
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json"), HasSubstr("unsupported model_type 'gpt_neo'"),
                                  HasSubstr("gemma3_text"), HasSubstr("qwen3_moe")));
}

TEST_F(LoadTest, UnsupportedRopeTypeIsNamed) {
  json config = read_json(dir_ / "config.json");
  config["rope_parameters"] = {{"rope_type", "mrope"}, {"rope_theta", 10000.0}};
  write_text(dir_ / "config.json", config.dump());
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json"), HasSubstr("unsupported rope type 'mrope'")));
}

TEST_F(LoadTest, MissingTensorIsNamed) {
  auto weights = llama_weights();
  weights.erase("model.layers.1.post_attention_layernorm.weight");
  tx::save_safetensors((dir_ / "model.safetensors").string(), weights);
  EXPECT_THAT(load_error(), HasSubstr("missing tensor model.layers.1.post_attention_layernorm.weight"));
}

TEST_F(LoadTest, UnexpectedTensorIsNamed) {
  auto weights = llama_weights();
  weights.emplace("model.layers.0.self_attn.q_norm.weight", tx::ones({16}));
  tx::save_safetensors((dir_ / "model.safetensors").string(), weights);
  EXPECT_THAT(load_error(), HasSubstr("unexpected tensor model.layers.0.self_attn.q_norm.weight"));
}

TEST_F(LoadTest, WrongShapeIsNamed) {
  auto weights = llama_weights();
  weights.insert_or_assign("model.layers.0.self_attn.k_proj.weight", tx::zeros({64, 64}));
  tx::save_safetensors((dir_ / "model.safetensors").string(), weights);
  EXPECT_THAT(load_error(),
              HasSubstr("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [64, 64], expected [32, 64]"));
}

TEST_F(LoadTest, TruncatedWeightsFileIsNamed) {
  const auto size = fs::file_size(dir_ / "model.safetensors");
  fs::resize_file(dir_ / "model.safetensors", size / 2);
  EXPECT_THAT(load_error(), HasSubstr("model.safetensors"));
  fs::resize_file(dir_ / "model.safetensors", 5);
  EXPECT_THAT(load_error(), HasSubstr("model.safetensors"));
}

TEST_F(LoadTest, MissingWeightsAreReported) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_THAT(load_error(), HasSubstr("no model weights"));
}

TEST_F(LoadTest, UntiedModelWithoutHeadUsesTheEmbeddings) {
  auto weights = llama_weights();
  weights.erase("lm_head.weight");
  tx::save_safetensors((dir_ / "model.safetensors").string(), weights);
  auto loaded = lm::load(dir_.string());
  const auto params = loaded.model->parameters();
  EXPECT_TRUE(tx::allclose(params.at("lm_head.weight"), params.at("model.embed_tokens.weight"), 0, 0));
}

TEST_F(LoadTest, QuantizedCheckpointLoadsQuantized) {
  auto loaded = lm::load(dir_.string());
  const lm::QuantizationConfig qc = lm::quantize_model(*loaded.model, 64, 8);
  std::unordered_map<std::string, tx::array> tensors;
  for (const auto& [name, w] : loaded.model->parameters()) {
    tensors.emplace(name, w);
  }
  ASSERT_TRUE(tensors.count("model.layers.0.self_attn.q_proj.scales"));
  tx::save_safetensors((dir_ / "model.safetensors").string(), tensors);
  json config = read_json(dir_ / "config.json");
  config["quantization"] = qc.to_json();
  write_text(dir_ / "config.json", config.dump());

  auto reloaded = lm::load(dir_.string());
  EXPECT_EQ(reloaded.model->module("model.layers.1.mlp.up_proj")->type_name(), "QuantizedLinear");
  tx::array tokens(std::vector<int>{5, 9, 100, 3}, {1, 4}, tx::int32);
  EXPECT_TRUE(tx::allclose((*reloaded.model)(tokens), (*loaded.model)(tokens), 0, 0));
  // 8-bit weights stay close to the float model.
  tx::array reference = (*lm::load(llama_dir().string()).model)(tokens);
  EXPECT_LE(tx::max(tx::abs(tx::subtract((*reloaded.model)(tokens), reference))).item<float>(),
            0.05f * tx::max(tx::abs(reference)).item<float>());

  config.erase("quantization");
  write_text(dir_ / "config.json", config.dump());
  EXPECT_THAT(load_error(), HasSubstr("quantization"));
}

TEST(Load, DemoModelHasTokenizer) {
  auto loaded = lm::load("models/stories260K");
  ASSERT_NE(loaded.tokenizer, nullptr);
  ASSERT_NE(loaded.chat_template, nullptr);
  EXPECT_EQ(loaded.generation_config.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(loaded.generation_config.bos_token_id, 1);
}

TEST(Load, SupportedModelTypes) {
  EXPECT_EQ(lm::supported_model_types(),
            (std::vector<std::string>{"gemma", "gemma2", "gemma3_text", "llama", "mistral", "mixtral", "phi3", "qwen2",
                                      "qwen3", "qwen3_moe"}));
}

// ---- RoPE settings in both layouts ----

lm::RopeConfig rope_of(const fs::path& file, const std::string& layer_type = "") {
  return lm::parse_rope_config(lm::ConfigReader(read_json(file), file.string()), layer_type);
}

TEST(RopeConfig, Gemma3LayoutsAgree) {
  const fs::path dir = fixtures_dir() / "models" / "gemma3_text";
  for (const char* file : {"config.json", "config.legacy.json"}) {
    const auto local = rope_of(dir / file, "sliding_attention");
    EXPECT_EQ(local.type, "default") << file;
    EXPECT_EQ(local.theta, 10000.0) << file;
    const auto global = rope_of(dir / file, "full_attention");
    EXPECT_EQ(global.type, "linear") << file;
    EXPECT_EQ(global.theta, 1e6) << file;
    EXPECT_EQ(global.factor, 4.0) << file;
  }
}

TEST(RopeConfig, LongRopeLayoutsAgree) {
  const fs::path dir = fixtures_dir() / "models" / "phi3_longrope";
  for (const char* file : {"config.json", "config.legacy.json"}) {
    const auto rope = rope_of(dir / file);
    EXPECT_EQ(rope.type, "longrope") << file;
    EXPECT_EQ(rope.original_max_position_embeddings, 16) << file;
    EXPECT_EQ(rope.long_factor.size(), 8u) << file;
    EXPECT_EQ(rope.short_factor.at(7), 3.0) << file;
    // s = 64 / 16: sqrt(1 + ln(s) / ln(16))
    EXPECT_NEAR(lm::rope_attention_factor(rope), std::sqrt(1.0 + std::log(4.0) / std::log(16.0)), 1e-12) << file;
  }
}

TEST(RopeConfig, Llama3ScalingHasThreeBands) {
  const fs::path dir = fixtures_dir() / "models" / "llama_tied";
  const auto rope = rope_of(dir / "config.legacy.json");
  EXPECT_EQ(rope.type, "llama3");
  const auto inv = lm::llama3_inv_freq(rope, 16);
  const auto plain = lm::default_inv_freq(rope.theta, 16);
  ASSERT_EQ(inv.size(), 8u);
  int kept = 0, divided = 0, smoothed = 0;
  for (size_t i = 0; i < inv.size(); ++i) {
    if (inv[i] == plain[i]) {
      ++kept;
    } else if (std::abs(inv[i] - plain[i] / 8.0f) <= 1e-6f * plain[i]) {
      ++divided;
    } else {
      EXPECT_LT(inv[i], plain[i]);
      EXPECT_GT(inv[i], plain[i] / 8.0f);
      ++smoothed;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(smoothed, 0);
}

TEST(RopeConfig, DynamicScalingGrowsTheBasePastTheContext) {
  lm::RopeConfig rope;
  rope.type = "dynamic";
  rope.theta = 10000;
  rope.factor = 2;
  rope.max_position_embeddings = 100;
  EXPECT_EQ(lm::dynamic_ntk_base(rope, 16, 100), 10000.0);
  EXPECT_NEAR(lm::dynamic_ntk_base(rope, 16, 200), 10000.0 * std::pow(3.0, 16.0 / 14.0), 1e-6);
}

}  // namespace
