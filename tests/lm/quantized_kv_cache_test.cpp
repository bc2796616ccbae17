// The quantized KV cache: attention over the codes equals attention over the dequantized cache,
// memory shrinks, greedy decoding on the demo model is unchanged at 8 bits, and prompt cache
// files keep it.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "tessera/fast.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/prompt_cache.h"
#include "tessera/lm/quantized_kv_cache.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace tx = tessera;
namespace fs = std::filesystem;
using tx::lm::QuantizedKVCache;

namespace {

const tx::lm::LoadedModel& demo() {
  static tx::lm::LoadedModel loaded = tx::lm::load("models/stories260K");
  return loaded;
}

std::vector<int> greedy(const std::vector<int>& prompt, int n, tx::lm::Cache* cache) {
  tx::lm::GenerateOptions options;
  options.max_tokens = n;
  options.prompt_cache = cache;
  std::vector<int> out;
  tx::lm::stream_generate(demo(), prompt, options, [&](const tx::lm::GenerationResponse& r) {
    out.push_back(r.token);
    return true;
  });
  return out;
}

float max_abs_diff(const tx::array& a, const tx::array& b) {
  return tx::max(tx::abs(tx::subtract(a, b))).item<float>();
}

}  // namespace

TEST(QuantizedKVCache, AttentionOverCodesEqualsAttentionOverDequantizedCache) {
  for (int bits : {4, 8}) {
    QuantizedKVCache direct(bits, 16), twin(bits, 16);
    tx::array k = tx::random::normal({1, 2, 20, 32});
    tx::array v = tx::random::normal({1, 2, 20, 32});
    tx::array q = tx::random::normal({1, 4, 20, 32});
    tx::lm::AttentionMask causal{"causal", std::nullopt};
    tx::array got = direct.attention(q, k, v, 0.25f, causal);
    auto [dk, dv] = twin.update_and_fetch(k, v);
    tx::array want = tx::fast::scaled_dot_product_attention(q, dk, dv, 0.25f, "causal");
    EXPECT_LT(max_abs_diff(got, want), 1e-4f) << bits << " bits, prefill";
    // One decode step with an explicit mask that hides the first 3 keys.
    tx::array k1 = tx::random::normal({1, 2, 1, 32});
    tx::array v1 = tx::random::normal({1, 2, 1, 32});
    tx::array q1 = tx::random::normal({1, 4, 1, 32});
    tx::array mask = tx::greater_equal(tx::reshape(tx::arange(0, 21), {1, 21}), tx::array(3));
    tx::lm::AttentionMask window{"", mask};
    got = direct.attention(q1, k1, v1, 0.25f, window);
    std::tie(dk, dv) = twin.update_and_fetch(k1, v1);
    want = tx::fast::scaled_dot_product_attention(q1, dk, dv, 0.25f, "", mask);
    EXPECT_LT(max_abs_diff(got, want), 1e-4f) << bits << " bits, decode";
    EXPECT_EQ(direct.offset(), 21);
  }
}

TEST(QuantizedKVCache, AttentionAtModelHeadSizesAcrossGrowthAndTrim) {
  // Head sizes of real models (SIMD path) and one that is not a multiple of 32 (plain loops); a
  // prefill of more query rows than one block, decode steps that grow the store past 256 rows per
  // head, and a trim that later tokens overwrite.
  for (auto [D, gs] : {std::pair<int64_t, int>{64, 64}, {128, 32}, {24, 8}}) {
    for (int bits : {4, 8}) {
      const std::string what = "D " + std::to_string(D) + " gs " + std::to_string(gs) + " bits " + std::to_string(bits);
      QuantizedKVCache direct(bits, gs), twin(bits, gs);
      tx::lm::AttentionMask causal{"causal", std::nullopt};
      auto step = [&](int64_t T, uint64_t seed) {
        tx::random::seed(seed);
        tx::array k = tx::random::normal({2, 2, T, D}), v = tx::random::normal({2, 2, T, D});
        tx::array q = tx::random::normal({2, 8, T, D});
        tx::array got = direct.attention(q, k, v, 0.2f, causal);
        auto [dk, dv] = twin.update_and_fetch(k, v);
        tx::array want = tx::fast::scaled_dot_product_attention(q, dk, dv, 0.2f, "causal");
        EXPECT_LT(max_abs_diff(got, want), 1e-4f) << what << " T " << T << " at " << direct.offset();
      };
      step(250, 1);
      {
        // The dequantized cache is within half a quantization step of what was stored.
        QuantizedKVCache probe(bits, gs);
        const tx::array k = tx::random::normal({2, 2, 250, D}), v = tx::random::normal({2, 2, 250, D});
        const float bound = (tx::max(k).item<float>() - tx::min(k).item<float>()) / (2 * ((1 << bits) - 1)) + 1e-5f;
        EXPECT_LE(max_abs_diff(probe.update_and_fetch(k, v).first, k), bound) << what;
      }
      for (int i = 0; i < 9; ++i) step(1, 2 + i);
      {
        // Three query heads per key/value head: 21 query rows per head, one past a multiple of 4.
        tx::random::seed(30);
        tx::array k = tx::random::normal({2, 2, 7, D}), v = tx::random::normal({2, 2, 7, D});
        tx::array q = tx::random::normal({2, 6, 7, D});
        tx::array got = direct.attention(q, k, v, 0.2f, causal);
        auto [dk, dv] = twin.update_and_fetch(k, v);
        EXPECT_LT(max_abs_diff(got, tx::fast::scaled_dot_product_attention(q, dk, dv, 0.2f, "causal")), 1e-4f) << what;
        EXPECT_EQ(direct.trim(7), 7);
        EXPECT_EQ(twin.trim(7), 7);
      }
      EXPECT_EQ(direct.trim(5), 5);
      EXPECT_EQ(twin.trim(5), 5);
      step(3, 20);
      EXPECT_EQ(direct.offset(), 257);
    }
  }
}

TEST(QuantizedKVCache, BfloatQueriesOverFourBitCodes) {
  // A bfloat16 model's decoding multiplies q with the 4-bit key codes directly (bfloat16 128 + c);
  // its prefill (many query rows) attends over a bfloat16 copy of the dequantized cache, with
  // bfloat16 probabilities. The reference is float32 attention over the dequantized cache of the
  // same values.
  for (auto [D, gs] : {std::pair<int64_t, int>{64, 64}, {128, 32}, {128, 64}}) {
    const std::string what = "D " + std::to_string(D) + " gs " + std::to_string(gs);
    QuantizedKVCache direct(4, gs), twin(4, gs);
    tx::lm::AttentionMask causal{"causal", std::nullopt};
    auto step = [&](int64_t T, uint64_t seed) {
      tx::random::seed(seed);
      const tx::array k = tx::astype(tx::random::normal({1, 2, T, D}), tx::bfloat16);
      const tx::array v = tx::astype(tx::random::normal({1, 2, T, D}), tx::bfloat16);
      const tx::array q = tx::astype(tx::random::normal({1, 8, T, D}), tx::bfloat16);
      const tx::array got = direct.attention(q, k, v, 0.125f, causal);
      EXPECT_EQ(got.dtype(), tx::bfloat16);
      auto [dk, dv] = twin.update_and_fetch(tx::astype(k, tx::float32), tx::astype(v, tx::float32));
      const tx::array want = tx::fast::scaled_dot_product_attention(tx::astype(q, tx::float32), dk, dv, 0.125f, "causal");
      // bfloat16 output: 2^-9 of values below 4; prefill also rounds the keys, values and
      // probabilities to bfloat16.
      EXPECT_LT(max_abs_diff(tx::astype(got, tx::float32), want), T > 1 ? 2e-2f : 1e-2f) << what << " T " << T;
    };
    step(37, 1);
    for (int i = 0; i < 3; ++i) step(1, 2 + i);
  }
}

TEST(QuantizedKVCache, StoringAndAttendingOnlyBuildTheGraph) {
  // Nothing is evaluated until the output is: the stores are written in place when it is.
  QuantizedKVCache cache(4, 32, /*start=*/3);
  for (int64_t T : {2, 4, 1}) {  // float, then past the start, then quantized
    const tx::array k = tx::random::normal({1, 2, T, 64}), v = tx::random::normal({1, 2, T, 64});
    const tx::array q = tx::random::normal({1, 4, T, 64});
    const tx::array out = cache.attention(q, k, v, 0.125f, {"causal", std::nullopt});
    EXPECT_FALSE(k.is_evaluated()) << "T " << T;
    EXPECT_FALSE(out.is_evaluated()) << "T " << T;
    out.eval();
    EXPECT_TRUE(k.is_evaluated());
  }
  EXPECT_TRUE(cache.quantized());
  EXPECT_EQ(cache.offset(), 7);
}

TEST(QuantizedKVCache, FirstCallOfOneTokenReadsTheCodes) {
  // A cache whose first tokens come one at a time (as after loading a prompt cache): the value
  // blocks of the codes path need no earlier dequantization on the thread.
  QuantizedKVCache direct(4, 64), twin(4, 64);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    tx::random::seed(seed);
    const tx::array k = tx::astype(tx::random::normal({1, 2, 1, 64}), tx::bfloat16);
    const tx::array v = tx::astype(tx::random::normal({1, 2, 1, 64}), tx::bfloat16);
    const tx::array q = tx::astype(tx::random::normal({1, 8, 1, 64}), tx::bfloat16);
    const tx::array got = direct.attention(q, k, v, 0.125f, {"causal", std::nullopt});
    auto [dk, dv] = twin.update_and_fetch(tx::astype(k, tx::float32), tx::astype(v, tx::float32));
    const tx::array want = tx::fast::scaled_dot_product_attention(tx::astype(q, tx::float32), dk, dv, 0.125f, "causal");
    EXPECT_LT(max_abs_diff(tx::astype(got, tx::float32), want), 1e-2f) << "token " << seed;
  }
}

TEST(QuantizedKVCache, FourBitCacheOf4096TokensIsOverThreeTimesSmaller) {
  tx::array k = tx::random::normal({1, 4, 4096, 64});
  tx::array v = tx::random::normal({1, 4, 4096, 64});
  tx::lm::StandardKVCache plain;
  plain.update_and_fetch(k, v);
  QuantizedKVCache quantized(4, 64);
  quantized.update_and_fetch(k, v);
  size_t plain_bytes = 0;
  for (const auto& a : plain.state()) plain_bytes += a.nbytes();
  size_t state_bytes = 0;
  for (const auto& a : quantized.state()) state_bytes += a.nbytes();
  EXPECT_EQ(state_bytes, quantized.nbytes());
  EXPECT_GE(static_cast<double>(plain_bytes) / static_cast<double>(quantized.nbytes()), 3.0)
      << plain_bytes << " vs " << quantized.nbytes();
}

TEST(QuantizedKVCache, EightBitGreedyTokensEqualTheFloatCache) {
  std::vector<int> prompt = demo().tokenizer->encode("Once upon a time", true);
  tx::lm::Cache plain = demo().model->make_cache();
  tx::lm::Cache quantized = tx::lm::make_quantized_cache(*demo().model, 8, 4);
  EXPECT_EQ(greedy(prompt, 200, &quantized), greedy(prompt, 200, &plain));
  auto* layer = dynamic_cast<QuantizedKVCache*>(quantized[0].get());
  ASSERT_NE(layer, nullptr);
  EXPECT_TRUE(layer->quantized());
}

TEST(QuantizedKVCache, StaysFloatUntilTheStart) {
  QuantizedKVCache cache(8, 16, 10);
  cache.update_and_fetch(tx::random::normal({1, 2, 8, 32}), tx::random::normal({1, 2, 8, 32}));
  EXPECT_FALSE(cache.quantized());
  EXPECT_EQ(cache.state().size(), 2u);
  cache.update_and_fetch(tx::random::normal({1, 2, 4, 32}), tx::random::normal({1, 2, 4, 32}));
  EXPECT_TRUE(cache.quantized());
  EXPECT_EQ(cache.offset(), 12);
  EXPECT_EQ(cache.state().size(), 6u);
  EXPECT_EQ(cache.trim(2), 2);
  EXPECT_EQ(cache.state()[0].shape(2), 10);
}

TEST(QuantizedKVCache, SavedAndLoadedByPromptCacheFiles) {
  auto& loaded = demo();
  std::vector<int> prefix = loaded.tokenizer->encode("Once upon a time, there was a little girl named Lily.", true);
  std::vector<int> question = loaded.tokenizer->encode(" She loved", false);
  tx::lm::Cache live = tx::lm::make_quantized_cache(*loaded.model, 4, 8);
  tx::lm::fill_prompt_cache(*loaded.model, prefix, live);
  fs::path path = fs::temp_directory_path() / ("tessera-qkv-" + std::to_string(::getpid()) + ".safetensors");
  tx::lm::save_prompt_cache(path.string(), live, tx::lm::model_fingerprint(loaded));
  auto back = tx::lm::load_prompt_cache(path.string());
  fs::remove(path);
  auto* layer = dynamic_cast<QuantizedKVCache*>(back.cache[0].get());
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(layer->bits(), 4);
  EXPECT_EQ(layer->group_size(), 8);
  EXPECT_EQ(layer->offset(), static_cast<int>(prefix.size()));
  EXPECT_EQ(greedy(question, 40, &back.cache), greedy(question, 40, &live));
}

TEST(QuantizedKVCache, UnsupportedSettingsAreRefused) {
  EXPECT_THROW(QuantizedKVCache(5, 64), std::invalid_argument);
  EXPECT_THROW(QuantizedKVCache(4, 0), std::invalid_argument);
  QuantizedKVCache cache(4, 64);
  EXPECT_THROW(cache.update_and_fetch(tx::zeros({1, 2, 3, 8}), tx::zeros({1, 2, 3, 8})), std::invalid_argument);
}
