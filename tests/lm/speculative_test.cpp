// Speculative decoding on the demo model: the output is the main model's greedy output
// whatever the draft, and a draft of another vocabulary is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tessera/lm/convert.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/prompt_cache.h"
#include "tessera/lm/quantized_kv_cache.h"
#include "tessera/lm/speculative.h"
#include "tessera/nn/module.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/random.h"

#include "random_llama.h"

namespace tx = tessera;
namespace fs = std::filesystem;
using tx::lm::GenerateOptions;
using tx::lm::GenerationResponse;

namespace {

const tx::lm::LoadedModel& demo() {
  static tx::lm::LoadedModel loaded = tx::lm::load("models/stories260K");
  return loaded;
}

// The demo model quantized to 4 bits by convert, in a folder removed at exit.
struct QuantizedDemo {
  fs::path dir = fs::temp_directory_path() / ("tessera-spec-" + std::to_string(::getpid()));
  tx::lm::LoadedModel loaded;
  QuantizedDemo() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    tx::lm::ConvertOptions options;
    options.hf_path = "models/stories260K";
    options.mlx_path = (dir / "q4").string();
    options.quantize = true;
    tx::lm::convert(options);
    loaded = tx::lm::load(options.mlx_path);
  }
  ~QuantizedDemo() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const tx::lm::LoadedModel& quantized_demo() {
  static QuantizedDemo q;
  return q.loaded;
}

std::vector<int> prompt() { return demo().tokenizer->encode("Once upon a time, there was a little dog", true); }

tx::lm::LoadedModel random_model(tx::Dtype dtype) { return tx::test::random_llama(demo(), dtype); }

const tx::lm::LoadedModel& bfloat_model() {
  static tx::lm::LoadedModel loaded = random_model(tx::bfloat16);
  return loaded;
}

std::vector<int> plain(int n, const tx::lm::LoadedModel& main = demo()) {
  GenerateOptions options;
  options.max_tokens = n;
  std::vector<int> out;
  tx::lm::stream_generate(main, prompt(), options, [&](const GenerationResponse& r) {
    out.push_back(r.token);
    return true;
  });
  return out;
}

std::vector<GenerationResponse> speculative(const tx::lm::LoadedModel& draft, int n, int k,
                                            const tx::lm::LoadedModel& main = demo()) {
  GenerateOptions options;
  options.max_tokens = n;
  std::vector<GenerationResponse> out;
  tx::lm::speculative_stream_generate(main, draft, prompt(), options, k, [&](const GenerationResponse& r) {
    out.push_back(r);
    return true;
  });
  return out;
}

std::vector<int> tokens(const std::vector<GenerationResponse>& rs) {
  std::vector<int> out;
  for (const auto& r : rs) out.push_back(r.token);
  return out;
}

int drafted(const std::vector<GenerationResponse>& rs) {
  int n = 0;
  for (const auto& r : rs) n += r.from_draft;
  return n;
}

}  // namespace

TEST(Speculative, OwnDraftAcceptsEveryProposal) {
  const int n = 100, k = 3;
  auto rs = speculative(demo(), n, k);
  EXPECT_EQ(tokens(rs), plain(n));
  // Each verification pass emits the k accepted drafts and one token of the main model.
  EXPECT_EQ(drafted(rs), n / (k + 1) * k);
  for (size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(rs[i].from_draft, i % (k + 1) != k) << i;
  EXPECT_EQ(rs.back().finish_reason, "length");
}

TEST(Speculative, QuantizedDraftGivesTheMainModelsGreedyOutput) {
  const int n = 120;
  for (int k : {1, 2, 4}) {
    auto rs = speculative(quantized_demo(), n, k);
    EXPECT_EQ(tokens(rs), plain(n)) << "k = " << k;
    // A 4-bit copy agrees with its float model most of the time, but not always.
    EXPECT_GT(drafted(rs), n / 4) << "k = " << k;
    // ... and some proposals are rejected, so the caches were rewound.
    EXPECT_LT(drafted(rs), n / (k + 1) * k) << "k = " << k;
  }
}

TEST(Speculative, BfloatModelAsItsOwnDraftGivesItsGreedyOutput) {
  const int n = 60;
  const std::vector<int> expected = plain(n, bfloat_model());
  for (int k : {1, 3, 4, 5}) {
    auto rs = speculative(bfloat_model(), n, k, bfloat_model());
    EXPECT_EQ(tokens(rs), expected) << "k = " << k;
    EXPECT_EQ(drafted(rs), n / (k + 1) * k) << "k = " << k;
  }
}

TEST(Speculative, AVerificationPassComputesEachPositionAsDecodingDoes) {
  // What makes the output exact: the logits of a pass over several new tokens equal, bit for bit,
  // those of decoding the same tokens one at a time, for bfloat16, float32 and float16 weights,
  // bfloat16 weights quantized to 4 bits (the decode layout) and 3 bits (dequantized products),
  // 4 bits at group size 32 (every matrix in the decode layout) with int8 activations, with float
  // and quantized caches.
  struct Case {
    tx::Dtype dtype;
    int bits, group_size;
    bool int8_activations;
  };
  const std::vector<int> ids = prompt();
  const int n = static_cast<int>(ids.size()), tail = 5;
  for (auto [dtype, bits, group_size, int8_activations] :
       {Case{tx::bfloat16, 0, 0, false}, Case{tx::float32, 0, 0, false}, Case{tx::float16, 0, 0, false},
        Case{tx::bfloat16, 4, 64, false}, Case{tx::bfloat16, 3, 64, false}, Case{tx::bfloat16, 4, 32, true}}) {
    const tx::lm::LoadedModel loaded = random_model(dtype);
    tx::lm::Model& model = *loaded.model;
    if (bits) tx::nn::quantize(model, group_size, bits);
    if (int8_activations) {
      ASSERT_GT(model.set_int8_activations(true), 0);
    }
    for (int kv_bits : {0, 4, 8}) {
      tx::lm::Cache cache = kv_bits ? tx::lm::make_quantized_cache(model, kv_bits, 64) : model.make_cache();
      auto run = [&](int from, int count) {
        const tx::array logits = model(tx::array(ids.data() + from, {1, count}, tx::int32), &cache);
        return tx::astype(logits, tx::float32).to_vector<float>();
      };
      run(0, n - tail);
      std::vector<float> one_by_one;
      for (int i = n - tail; i < n; ++i) {
        const std::vector<float> row = run(i, 1);
        one_by_one.insert(one_by_one.end(), row.begin(), row.end());
      }
      ASSERT_EQ(tx::lm::trim_prompt_cache(cache, tail), tail);
      EXPECT_EQ(run(n - tail, tail), one_by_one)
          << tx::to_string(dtype) << ", " << bits << "-bit weights, int8 activations " << int8_activations
          << ", kv bits " << kv_bits;
    }
  }
}

TEST(Speculative, DraftTokensOutsideOneToFourteenAreRefused) {
  for (int k : {0, tx::lm::kMaxDraftTokens + 1}) {
    try {
      speculative(demo(), 4, k);
      FAIL() << "num_draft_tokens " << k << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("between 1 and 14"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(tokens(speculative(demo(), 30, tx::lm::kMaxDraftTokens)), plain(30));
}

TEST(Speculative, TextMatchesPlainGeneration) {
  GenerateOptions options;
  options.max_tokens = 60;
  std::string text;
  tx::lm::speculative_stream_generate(demo(), quantized_demo(), prompt(), options, 3,
                                      [&](const GenerationResponse& r) {
                                        text += r.text;
                                        return true;
                                      });
  std::string expected;
  tx::lm::stream_generate(demo(), prompt(), options, [&](const GenerationResponse& r) {
    expected += r.text;
    return true;
  });
  EXPECT_EQ(text, expected);
}

TEST(Speculative, DraftWithAnotherVocabularyIsRefused) {
  fs::path dir = fs::temp_directory_path() / ("tessera-spec-tok-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "tokenizer.json");
    out << R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,
              "decoder":null,"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})";
  }
  tx::lm::LoadedModel other = demo();
  other.tokenizer = std::make_shared<tx::lm::Tokenizer>(tx::lm::Tokenizer::from_file((dir / "tokenizer.json").string()));
  other.path = "other-vocabulary";
  fs::remove_all(dir);
  try {
    tx::lm::check_draft_model(demo(), other);
    FAIL() << "a draft with another vocabulary was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("another vocabulary"), std::string::npos) << e.what();
  }
  GenerateOptions options;
  options.max_tokens = 5;
  EXPECT_THROW(tx::lm::speculative_stream_generate(demo(), other, prompt(), options, 3,
                                                   [](const GenerationResponse&) { return true; }),
               std::invalid_argument);
  EXPECT_THROW(tx::lm::speculative_stream_generate(demo(), demo(), prompt(), options, 0,
                                                   [](const GenerationResponse&) { return true; }),
               std::invalid_argument);
}
