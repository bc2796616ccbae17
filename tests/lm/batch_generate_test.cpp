// Batched generation on the demo model: every sequence's greedy output equals its
// single-prompt greedy output, with prompts of different lengths, per-sequence stopping and
// sequences joining the batch as others finish.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "tessera/lm/batch_generate.h"
#include "tessera/lm/generate.h"
#include "tessera/ops.h"

namespace tx = tessera;
using tx::lm::BatchGenerateOptions;

namespace {

const tx::lm::LoadedModel& demo() {
  static tx::lm::LoadedModel loaded = tx::lm::load("models/stories260K");
  return loaded;
}

std::vector<std::vector<int>> prompts() {
  std::vector<std::vector<int>> out;
  for (const char* p : {"Once upon a time", "Lily had a red ball. She",
                        "One day, a little boy named Tim went to the park with his mom. He saw a big",
                        "The cat", "There was a big tree in the garden. The birds liked to sing"}) {
    out.push_back(demo().tokenizer->encode(p, true));
  }
  return out;
}

struct Single {
  std::vector<int> tokens;
  std::string text;
  std::string finish_reason;
};

Single single(const std::vector<int>& prompt, int max_tokens) {
  tx::lm::GenerateOptions options;
  options.max_tokens = max_tokens;
  Single s;
  tx::lm::stream_generate(demo(), prompt, options, [&](const tx::lm::GenerationResponse& r) {
    s.tokens.push_back(r.token);
    s.text += r.text;
    if (r.finish_reason) s.finish_reason = *r.finish_reason;
    return true;
  });
  return s;
}

}  // namespace

TEST(BatchGenerate, EachSequenceMatchesItsSinglePromptGreedyOutput) {
  BatchGenerateOptions options;
  options.max_tokens = 60;
  options.batch_size = 3;
  auto ps = prompts();
  ps.push_back({ps[0][0]});  // one token: nothing to prefill before the first step
  std::vector<int> finished;
  auto result = tx::lm::batch_generate(demo(), ps, options,
                                       [&](int i, const tx::lm::BatchSequenceResult&) { finished.push_back(i); });
  ASSERT_EQ(result.results.size(), ps.size());
  EXPECT_EQ(finished.size(), ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    Single s = single(ps[i], options.max_tokens);
    EXPECT_EQ(result.results[i].tokens, s.tokens) << "prompt " << i;
    EXPECT_EQ(result.results[i].text, s.text) << "prompt " << i;
    EXPECT_EQ(result.results[i].finish_reason, s.finish_reason) << "prompt " << i;
  }
  int prompt_tokens = 0;
  for (const auto& p : ps) prompt_tokens += static_cast<int>(p.size());
  EXPECT_EQ(result.prompt_tokens, prompt_tokens);
}

TEST(BatchGenerate, PromptsOfOneTokenEach) {
  BatchGenerateOptions options;
  options.max_tokens = 12;
  const std::vector<std::vector<int>> ps = {{prompts()[0][0]}, {prompts()[1][1]}};
  const auto result = tx::lm::batch_generate(demo(), ps, options);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(result.results[i].tokens, single(ps[i], 12).tokens) << "prompt " << i;
}

TEST(BatchGenerate, SequencesStopAtTheirOwnEndOfSequence) {
  // Stopping on a frequent token ends each sequence at a different step; the freed rows take
  // the waiting prompts.
  auto ps = prompts();
  int period = demo().tokenizer->encode(".", false).back();
  BatchGenerateOptions options;
  options.max_tokens = 40;
  options.batch_size = 2;
  options.extra_eos_token_ids = {period};
  auto result = tx::lm::batch_generate(demo(), ps, options);
  std::set<size_t> lengths;
  for (size_t i = 0; i < ps.size(); ++i) {
    tx::lm::GenerateOptions single_options;
    single_options.max_tokens = 40;
    single_options.extra_eos_token_ids = {period};
    std::vector<int> tokens;
    tx::lm::stream_generate(demo(), ps[i], single_options, [&](const tx::lm::GenerationResponse& r) {
      tokens.push_back(r.token);
      return true;
    });
    EXPECT_EQ(result.results[i].tokens, tokens) << "prompt " << i;
    lengths.insert(tokens.size());
  }
  EXPECT_GT(lengths.size(), 1u);
}

TEST(BatchGenerate, PromptsPrefilledInChunksGiveTheSameTokens) {
  // Chunks of 3 columns: the short prompts' rows are all padding in the first chunks, and each
  // later chunk attends to the columns the earlier ones stored.
  BatchGenerateOptions options;
  options.max_tokens = 30;
  options.batch_size = 5;
  options.prefill_step_size = 3;
  auto ps = prompts();
  auto result = tx::lm::batch_generate(demo(), ps, options);
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(result.results[i].tokens, single(ps[i], options.max_tokens).tokens) << "prompt " << i;
  }
}

TEST(BatchKVCache, MaskHidesEachRowsPadding) {
  tx::lm::BatchKVCache cache({2, 0});
  auto mask = cache.make_mask(3, std::nullopt);
  ASSERT_TRUE(mask.mask.has_value());
  // Row 0, query 2 sees key 2 only; row 1, query 2 sees keys 0..2.
  auto m = tx::astype(*mask.mask, tx::int32);
  EXPECT_EQ(tx::sum(m).item<int>(), 1 + 6);
}

// Each row's next position is the count of its own tokens, through filter and extend.
TEST(BatchKVCache, RowsKeepTheirOwnPositions) {
  auto kv = [](int rows, int T) { return tx::zeros({rows, 1, T, 4}); };
  tx::lm::BatchKVCache cache({2, 0, 3});
  EXPECT_EQ(cache.row_offsets()->to_vector<int>(), (std::vector<int>{-2, 0, -3}));
  cache.update_and_fetch(kv(3, 5), kv(3, 5));
  EXPECT_EQ(cache.row_offsets()->to_vector<int>(), (std::vector<int>{3, 5, 2}));
  cache.filter({2, 0});  // drops the two padding columns both rows have
  EXPECT_EQ(cache.length(), 3);
  EXPECT_EQ(cache.row_offsets()->to_vector<int>(), (std::vector<int>{2, 3}));
  tx::lm::BatchKVCache joining({0}, cache.offset() - 1);
  joining.update_and_fetch(kv(1, 1), kv(1, 1));
  cache.extend(joining);
  cache.update_and_fetch(kv(3, 1), kv(3, 1));
  EXPECT_EQ(cache.row_offsets()->to_vector<int>(), (std::vector<int>{3, 4, 2}));
  EXPECT_FALSE(tx::lm::StandardKVCache().row_offsets().has_value());
}

// merge: the rows of several caches at one position, as extending one by one gives them.
TEST(BatchKVCache, MergeLeftPadsEachRowToTheLongest) {
  auto filled = [](int T, int clock, float value) {
    auto c = std::make_shared<tx::lm::BatchKVCache>(std::vector<int>{0}, clock - T);
    const tx::array kv = tx::full({1, 1, T, 4}, tx::array(value));
    c->update_and_fetch(kv, kv);
    return c;
  };
  const auto a = filled(3, 5, 1.0f), b = filled(5, 5, 2.0f);
  const auto merged = tx::lm::BatchKVCache::merge({a, b});
  EXPECT_EQ(merged->left_padding(), (std::vector<int>{2, 0}));
  EXPECT_EQ(merged->row_offsets()->to_vector<int>(), (std::vector<int>{3, 5}));
  EXPECT_EQ(merged->offset(), 5);
  tx::lm::BatchKVCache extended({0}, 2);
  extended.update_and_fetch(tx::full({1, 1, 3, 4}, tx::array(1.0f)), tx::full({1, 1, 3, 4}, tx::array(1.0f)));
  extended.extend(*b);
  EXPECT_EQ(merged->state()[0].to_vector<float>(), extended.state()[0].to_vector<float>());
  EXPECT_THROW(tx::lm::BatchKVCache::merge({a, filled(2, 4, 3.0f)}), std::invalid_argument);
  EXPECT_THROW(tx::lm::BatchKVCache::merge({}), std::invalid_argument);
}

TEST(BatchGenerate, BadInputIsRefused) {
  BatchGenerateOptions options;
  EXPECT_THROW(tx::lm::batch_generate(demo(), {{}}, options), std::invalid_argument);
  EXPECT_THROW(tx::lm::batch_generate(demo(), {{1, 100000}}, options), std::invalid_argument);
  options.batch_size = 0;
  EXPECT_THROW(tx::lm::batch_generate(demo(), {{1, 2}}, options), std::invalid_argument);
  options.batch_size = 1;
  options.prefill_step_size = 0;
  EXPECT_THROW(tx::lm::batch_generate(demo(), {{1, 2}}, options), std::invalid_argument);
}
