// Generation on the demo model against its greedy references (models/stories260K/README.md).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tessera/lm/generate.h"
#include "tessera/lm/model.h"
#include "tessera/lm/tokenizer.h"

namespace tx = tessera;
using tx::lm::GenerateOptions;
using tx::lm::GenerationResponse;

namespace {

const char* kDemo = "models/stories260K";

struct Reference {
  std::string prompt;
  std::vector<int> prompt_ids;
  std::vector<int> greedy_ids;
  std::string completion_text;
};

std::vector<Reference> references() {
  std::ifstream in(std::string(kDemo) + "/reference_greedy.json");
  auto j = nlohmann::json::parse(in);
  std::vector<Reference> out;
  for (const auto& r : j) {
    out.push_back({r["prompt"], r["prompt_ids"].get<std::vector<int>>(), r["greedy_ids"].get<std::vector<int>>(),
                   r["completion_text"]});
  }
  return out;
}

const tx::lm::LoadedModel& demo() {
  static tx::lm::LoadedModel loaded = tx::lm::load(kDemo);
  return loaded;
}

struct Outcome {
  std::vector<int> tokens;
  std::string text;
  std::vector<GenerationResponse> responses;
  std::optional<std::string> finish_reason;
};

Outcome run(const std::vector<int>& prompt, const GenerateOptions& options) {
  Outcome r;
  tx::lm::stream_generate(demo(), prompt, options, [&](const GenerationResponse& g) {
    r.tokens.push_back(g.token);
    r.text += g.text;
    r.responses.push_back(g);
    EXPECT_FALSE(r.finish_reason.has_value()) << "a response after the final one";
    r.finish_reason = g.finish_reason;
    return true;
  });
  return r;
}

GenerateOptions greedy(int max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  return o;
}

}  // namespace

TEST(Generate, GreedyTokensMatchTheReferences) {
  for (const auto& ref : references()) {
    EXPECT_EQ(demo().tokenizer->encode(ref.prompt), ref.prompt_ids) << ref.prompt;
    Outcome r = run(ref.prompt_ids, greedy(60));
    EXPECT_EQ(r.tokens, ref.greedy_ids) << ref.prompt;
    EXPECT_EQ(r.finish_reason, "length");
    EXPECT_EQ(r.text, ref.completion_text) << ref.prompt;
    EXPECT_EQ(r.text, demo().tokenizer->decode(r.tokens)) << "streamed text differs from the full decode";
    const auto& last = r.responses.back();
    EXPECT_EQ(last.prompt_tokens, static_cast<int>(ref.prompt_ids.size()));
    EXPECT_EQ(last.generation_tokens, 60);
    EXPECT_GT(last.prompt_tps, 0);
    EXPECT_GT(last.generation_tps, 0);
    EXPECT_EQ(last.logprobs.shape(), (tx::Shape{demo().model->vocab_size()}));
  }
}

// The demo model cast to float16 follows the float32 references: one-row products read float16
// weights in place, and a prompt extended by 20 reference tokens (more than 16 rows) prefills
// through the split bf16 products.
TEST(Generate, Float16WeightsFollowTheReferences) {
  tx::lm::LoadOptions options;
  options.dtype = tx::float16;
  const tx::lm::LoadedModel half = tx::lm::load(kDemo, options);
  for (const auto& ref : references()) {
    std::vector<int> prompt = ref.prompt_ids;
    prompt.insert(prompt.end(), ref.greedy_ids.begin(), ref.greedy_ids.begin() + 20);
    std::vector<int> tokens;
    tx::lm::stream_generate(half, prompt, greedy(30), [&](const GenerationResponse& g) {
      tokens.push_back(g.token);
      return true;
    });
    EXPECT_EQ(tokens, std::vector<int>(ref.greedy_ids.begin() + 20, ref.greedy_ids.begin() + 50)) << ref.prompt;
  }
}

TEST(Generate, TextPromptIsEncodedWithBos) {
  auto ref = references()[0];
  EXPECT_EQ(tx::lm::generate(demo(), ref.prompt, greedy(60)), ref.completion_text);
}

TEST(Generate, StopsOnEndOfSequenceTokens) {
  auto ref = references()[0];
  // Make the 8th generated token an end-of-sequence token: generation stops there, and its
  // text is not emitted.
  int k = 7;
  int stop = ref.greedy_ids[k];
  ASSERT_EQ(std::find(ref.greedy_ids.begin(), ref.greedy_ids.begin() + k, stop), ref.greedy_ids.begin() + k);
  GenerateOptions o = greedy(60);
  o.extra_eos_token_ids = {stop};
  Outcome r = run(ref.prompt_ids, o);
  ASSERT_EQ(r.tokens.size(), static_cast<size_t>(k + 1));
  EXPECT_EQ(r.tokens.back(), stop);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.responses.back().generation_tokens, k + 1);
  std::vector<int> before(ref.greedy_ids.begin(), ref.greedy_ids.begin() + k);
  EXPECT_EQ(r.text, demo().tokenizer->decode(before));
}

TEST(Generate, StopsAtMaxTokens) {
  auto ref = references()[1];
  Outcome r = run(ref.prompt_ids, greedy(5));
  EXPECT_EQ(r.tokens, std::vector<int>(ref.greedy_ids.begin(), ref.greedy_ids.begin() + 5));
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_TRUE(run(ref.prompt_ids, greedy(0)).tokens.empty());
}

TEST(Generate, ChunkedPrefillGivesTheSameTokens) {
  for (const auto& ref : references()) {
    GenerateOptions o = greedy(20);
    o.prefill_step_size = 2;
    EXPECT_EQ(run(ref.prompt_ids, o).tokens, std::vector<int>(ref.greedy_ids.begin(), ref.greedy_ids.begin() + 20));
  }
}

TEST(Generate, ContinuesFromAGivenCache) {
  auto ref = references()[2];
  tx::lm::Cache cache = demo().model->make_cache();
  GenerateOptions o = greedy(10);
  o.prompt_cache = &cache;
  Outcome first = run(ref.prompt_ids, o);
  ASSERT_EQ(first.tokens.size(), 10u);
  // the cache holds the prompt and all generated tokens but the last
  EXPECT_EQ(cache.front()->offset(), static_cast<int>(ref.prompt_ids.size()) + 9);
  o.max_tokens = 50;
  Outcome second = run({first.tokens.back()}, o);
  std::vector<int> expected(ref.greedy_ids.begin() + 10, ref.greedy_ids.end());
  EXPECT_EQ(second.tokens, expected);
}

TEST(Generate, RotatingCacheMatchesUntilItWraps) {
  auto ref = references()[0];
  GenerateOptions o = greedy(60);
  o.max_kv_size = 100;
  EXPECT_EQ(run(ref.prompt_ids, o).tokens, ref.greedy_ids);
  o.max_kv_size = 16;
  Outcome r = run(ref.prompt_ids, o);
  ASSERT_EQ(r.tokens.size(), 60u);
  // Until the cache is full every token still sees the whole context.
  int exact = 16 - static_cast<int>(ref.prompt_ids.size()) + 1;
  EXPECT_EQ(std::vector<int>(r.tokens.begin(), r.tokens.begin() + exact),
            std::vector<int>(ref.greedy_ids.begin(), ref.greedy_ids.begin() + exact));
}

TEST(Generate, SeededSamplingIsReproducible) {
  auto ref = references()[0];
  GenerateOptions o = greedy(30);
  o.sampler.temp = 1.0f;
  o.seed = 11;
  Outcome a = run(ref.prompt_ids, o);
  Outcome b = run(ref.prompt_ids, o);
  EXPECT_EQ(a.tokens, b.tokens);
  o.seed = 12;
  EXPECT_NE(run(ref.prompt_ids, o).tokens, a.tokens);
}

TEST(Generate, RejectsBadArguments) {
  GenerateOptions o = greedy(-1);
  EXPECT_THROW(run({1, 403}, o), std::invalid_argument);
  EXPECT_THROW(run({}, greedy(5)), std::invalid_argument);
  EXPECT_THROW(run({1, 100000}, greedy(5)), std::invalid_argument);
}
