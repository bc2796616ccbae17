// Speculative decoding on the demo model: the output is the main model's greedy output
// whatever the draft, and a draft of another vocabulary is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tessera/lm/convert.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/speculative.h"

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

std::vector<int> plain(int n) {
  GenerateOptions options;
  options.max_tokens = n;
  std::vector<int> out;
  tx::lm::stream_generate(demo(), prompt(), options, [&](const GenerationResponse& r) {
    out.push_back(r.token);
    return true;
  });
  return out;
}

std::vector<GenerationResponse> speculative(const tx::lm::LoadedModel& draft, int n, int k) {
  GenerateOptions options;
  options.max_tokens = n;
  std::vector<GenerationResponse> out;
  tx::lm::speculative_stream_generate(demo(), draft, prompt(), options, k, [&](const GenerationResponse& r) {
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
