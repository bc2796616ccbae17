// Generation with int8 activations (Model::set_int8_activations, LoadOptions::int8_activations):
// batched sequences still get exactly their single-prompt output, the logits move by the
// rounding and no more, and a model without quantized layers is refused.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/lm/batch_generate.h"
#include "tessera/lm/generate.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"

#include "random_llama.h"

namespace tx = tessera;

namespace {

const tx::lm::LoadedModel& demo() {
  static tx::lm::LoadedModel loaded = tx::lm::load("models/stories260K");
  return loaded;
}

// The random Llama in bfloat16 quantized to 4 bits at group size 32, so that every matrix takes
// the decode layout, with int8 activations when asked.
tx::lm::LoadedModel quantized_llama(bool int8_activations) {
  tx::lm::LoadedModel loaded = tx::test::random_llama(demo(), tx::bfloat16);
  tx::nn::quantize(*loaded.model, 32, 4);
  EXPECT_EQ(loaded.model->set_int8_activations(int8_activations), 16);  // 2 x 7 layers, the table, the head
  return loaded;
}

std::vector<std::vector<int>> prompts() {
  std::vector<std::vector<int>> out;
  for (const char* p : {"Once upon a time", "Lily had a red ball. She", "The cat",
                        "One day, a little boy named Tim went to the park with his mom. He saw a big",
                        "There was a big tree in the garden"}) {
    out.push_back(demo().tokenizer->encode(p, true));
  }
  return out;
}

std::vector<int> single(const tx::lm::LoadedModel& loaded, const std::vector<int>& prompt, int max_tokens) {
  tx::lm::GenerateOptions options;
  options.max_tokens = max_tokens;
  std::vector<int> tokens;
  tx::lm::stream_generate(loaded, prompt, options, [&](const tx::lm::GenerationResponse& r) {
    tokens.push_back(r.token);
    return true;
  });
  return tokens;
}

}  // namespace

// Prompts of different lengths, all at once or three at a time (sequences then join the running
// batch), so that rows are left-padded: each row's prefill, products, attention and rotary
// positions are those of its prompt alone, so even the int8 rounding of x cannot tell them apart
// (nor can MLX's products).
TEST(Int8Activations, EachSequenceOfABatchMatchesItsSinglePromptGreedyOutput) {
  for (bool int8 : {true, false}) {
    const tx::lm::LoadedModel loaded = quantized_llama(int8);
    const auto ps = prompts();
    std::vector<std::vector<int>> alone;
    for (const auto& p : ps) alone.push_back(single(loaded, p, 24));
    for (int batch_size : {5, 3}) {
      tx::lm::BatchGenerateOptions options;
      options.max_tokens = 24;
      options.batch_size = batch_size;
      const auto result = tx::lm::batch_generate(loaded, ps, options);
      ASSERT_EQ(result.results.size(), ps.size());
      for (size_t i = 0; i < ps.size(); ++i)
        EXPECT_EQ(result.results[i].tokens, alone[i])
            << "prompt " << i << ", " << batch_size << " at a time" << (int8 ? ", int8" : "");
    }
  }
}

TEST(Int8Activations, DecodingLogitsMoveByTheRoundingOnly) {
  const std::vector<int> prompt = prompts()[1];
  auto last_logits = [&](bool int8_activations) {
    const tx::lm::LoadedModel loaded = quantized_llama(int8_activations);
    tx::lm::Cache cache = loaded.model->make_cache();
    const int n = static_cast<int>(prompt.size());
    (*loaded.model)(tx::array(prompt.data(), {1, n - 1}, tx::int32), &cache).eval();
    const tx::array token(prompt.data() + n - 1, {1, 1}, tx::int32);
    return tx::astype((*loaded.model)(token, &cache), tx::float32).to_vector<float>();
  };
  const std::vector<float> exact = last_logits(false), rounded = last_logits(true);
  double error = 0.0, norm = 0.0;
  for (size_t i = 0; i < exact.size(); ++i) {
    error += (rounded[i] - exact[i]) * (rounded[i] - exact[i]);
    norm += exact[i] * exact[i];
  }
  const double relative = std::sqrt(error / norm);
  EXPECT_GT(relative, 1e-4);
  EXPECT_LT(relative, 5e-2);
}

TEST(Int8Activations, AModelWithoutQuantizedLayersIsRefused) {
  tx::lm::LoadOptions options;
  options.int8_activations = true;
  try {
    tx::lm::load("models/stories260K", options);
    FAIL() << "a float model loaded with int8 activations";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("models/stories260K: int8 activations need a quantized model"),
              std::string::npos)
        << e.what();
  }
}
