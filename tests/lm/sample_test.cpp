#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "tessera/lm/sample.h"
#include "tessera/ops.h"

namespace tx = tessera;
using tx::array;
using tx::lm::Sampler;
using tx::lm::SamplerOptions;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

array row(const std::vector<float>& v) { return array(v, {1, static_cast<int64_t>(v.size())}); }

array log_row(const std::vector<float>& probs) {
  std::vector<float> l;
  for (float p : probs) l.push_back(std::log(p));
  return row(l);
}

void expect_values(array a, const std::vector<float>& want) {
  auto got = a.to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "at " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
    }
  }
}

// Which entries survived a filter (are not -inf).
std::vector<bool> kept(array a) {
  std::vector<bool> out;
  for (float x : a.to_vector<float>()) out.push_back(x != -kInf);
  return out;
}

std::vector<int> draw(Sampler& s, const array& logprobs, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logprobs).item<int>());
  return out;
}

}  // namespace

TEST(Sampler, LogitBiasAddsToChosenTokens) {
  expect_values(tx::lm::apply_logit_bias(row({0, 1, 2, 3}), {{0, 5.0f}, {2, -1.0f}}), {5, 1, 1, 3});
  EXPECT_THROW(tx::lm::apply_logit_bias(row({0, 1}), {{2, 1.0f}}), std::invalid_argument);
}

TEST(Sampler, RepetitionPenaltyIsSignAwareAndOncePerToken) {
  expect_values(tx::lm::apply_repetition_penalty(row({-2, 4, 1, 3}), {0, 1, 1}, 2.0f), {-4, 2, 1, 3});
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  expect_values(tx::lm::apply_presence_penalty(row({0, 1, 2, 3}), {1, 1, 3}, 0.5f), {0, 0.5f, 2, 2.5f});
  expect_values(tx::lm::apply_frequency_penalty(row({0, 1, 2, 3}), {1, 1, 3}, 0.5f), {0, 0, 2, 2.5f});
}

TEST(Sampler, PenaltiesLookOnlyAtTheRecentContext) {
  SamplerOptions o;
  o.repetition_penalty = 2.0f;
  o.repetition_context_size = 2;
  Sampler s(o);
  // token 0 is outside the last two tokens; 1 and 2 are penalised
  array lp = s.logprobs(row({4, 4, 4, 4}), {0, 1, 2});
  array expected_logits = row({4, 2, 2, 4});
  expect_values(lp, tx::subtract(expected_logits, tx::logsumexp(expected_logits, -1, true)).to_vector<float>());
}

TEST(Sampler, LogprobsAreNormalised) {
  Sampler s(SamplerOptions{});
  array lp = s.logprobs(row({1, 2, 3}), {});
  EXPECT_NEAR(tx::sum(tx::exp(lp)).item<float>(), 1.0f, 1e-6);
  expect_values(lp, {1 - 3.40760596f, 2 - 3.40760596f, 3 - 3.40760596f});
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  array lp = log_row({0.1f, 0.2f, 0.3f, 0.4f});
  EXPECT_EQ(kept(tx::lm::apply_top_p(lp, 0.5f)), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(kept(tx::lm::apply_top_p(lp, 0.75f)), (std::vector<bool>{false, true, true, true}));
  EXPECT_EQ(kept(tx::lm::apply_top_p(lp, 0.35f)), (std::vector<bool>{false, false, false, true}));
  // survivors keep their log-probabilities
  expect_values(tx::lm::apply_top_p(lp, 0.5f), {-kInf, -kInf, std::log(0.3f), std::log(0.4f)});
}

TEST(Sampler, MinPIsRelativeToTheTopToken) {
  array lp = log_row({0.5f, 0.3f, 0.15f, 0.05f});
  EXPECT_EQ(kept(tx::lm::apply_min_p(lp, 0.2f)), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(kept(tx::lm::apply_min_p(lp, 0.5f)), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(kept(tx::lm::apply_min_p(lp, 0.5f, 3)), (std::vector<bool>{true, true, true, false}));
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  array lp = log_row({0.1f, 0.4f, 0.2f, 0.3f});
  EXPECT_EQ(kept(tx::lm::apply_top_k(lp, 2)), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(kept(tx::lm::apply_top_k(lp, 1)), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(kept(tx::lm::apply_top_k(lp, 4)), (std::vector<bool>{true, true, true, true}));
}

TEST(Sampler, TemperatureZeroIsArgmax) {
  Sampler s(SamplerOptions{});
  array logits = array(std::vector<float>{0.1f, 3.0f, -1.0f, 2.9f, 0.3f, 0.2f, 5.0f, 1.0f}, {2, 4});
  EXPECT_EQ(s.sample(s.logprobs(logits, {})).to_vector<int>(), (std::vector<int>{1, 2}));
}

TEST(Sampler, SeedMakesSamplingReproducible) {
  SamplerOptions o;
  o.temp = 1.0f;
  array lp = log_row({0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f, 0.125f});
  Sampler a(o, 42);
  Sampler b(o, 42);
  Sampler c(o, 43);
  auto da = draw(a, lp, 24);
  EXPECT_EQ(da, draw(b, lp, 24));
  EXPECT_NE(da, draw(c, lp, 24));
  std::set<int> distinct(da.begin(), da.end());
  EXPECT_GT(distinct.size(), 2u) << "successive draws must use fresh keys";
}

TEST(Sampler, DrawsFollowTheTemperedDistribution) {
  SamplerOptions o;
  o.temp = 0.5f;
  Sampler s(o, 7);
  // temp 0.5 squares the probabilities: [0.49, 0.04, 0.01] / 0.54
  const int n = 4000;
  array lp = tx::broadcast_to(log_row({0.7f, 0.2f, 0.1f}), {n, 3});
  auto tokens = s.sample(lp).to_vector<int>();
  std::vector<double> freq(3, 0);
  for (int t : tokens) freq.at(t) += 1.0 / n;
  EXPECT_NEAR(freq[0], 0.49 / 0.54, 0.03);
  EXPECT_NEAR(freq[1], 0.04 / 0.54, 0.03);
  EXPECT_NEAR(freq[2], 0.01 / 0.54, 0.015);
}

TEST(Sampler, FiltersRestrictWhatCanBeDrawn) {
  SamplerOptions o;
  o.temp = 1.0f;
  o.top_k = 2;
  Sampler s(o, 3);
  const int n = 500;
  array lp = tx::broadcast_to(log_row({0.3f, 0.1f, 0.35f, 0.25f}), {n, 4});
  for (int t : s.sample(lp).to_vector<int>()) EXPECT_TRUE(t == 0 || t == 2) << t;

  SamplerOptions p;
  p.temp = 1.0f;
  p.top_p = 0.5f;
  Sampler sp(p, 3);
  for (int t : sp.sample(lp).to_vector<int>()) EXPECT_TRUE(t == 0 || t == 2) << t;
}

TEST(Sampler, RejectsInvalidOptions) {
  SamplerOptions o;
  o.temp = -1;
  EXPECT_THROW(Sampler{o}, std::invalid_argument);
  o = {};
  o.top_p = 1.5f;
  EXPECT_THROW(Sampler{o}, std::invalid_argument);
  o = {};
  o.min_p = -0.1f;
  EXPECT_THROW(Sampler{o}, std::invalid_argument);
  o = {};
  o.top_k = -3;
  EXPECT_THROW(Sampler{o}, std::invalid_argument);
}
