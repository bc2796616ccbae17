// LoRALinear / DoRALinear: forward against the formula, initialization, placement in blocks,
// fusion, and finite-difference gradient checks (LoRA, DoRA, QLoRA and QuantizedLinear inputs).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../core/gradcheck.h"
#include "tessera/nn/lora.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera::nn {
namespace {

array pseudo_random(const Shape& shape, uint32_t seed, float scale = 1.0f) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  std::vector<float> v(n);
  uint32_t state = seed * 747796405u + 2891336453u;
  for (auto& x : v) {
    state = state * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return array(v, shape, float32);
}

std::shared_ptr<Linear> make_linear(int in, int out, bool bias, uint32_t seed) {
  auto l = std::make_shared<Linear>(in, out, bias);
  ParameterMap p{{"weight", pseudo_random({out, in}, seed)}};
  if (bias) p.emplace("bias", pseudo_random({out}, seed + 1));
  l->update(p);
  return l;
}

void expect_close(const array& a, const array& b, float tol) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.to_vector<float>();
  auto y = b.to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], tol * std::max(1.0f, std::abs(y[i]))) << i;
}

TEST(LoRALinear, InitializationAndStorage) {
  auto base = make_linear(16, 8, false, 1);
  LoRALinear lora(base, 4, 20.0f);
  EXPECT_EQ(lora.parameter("lora_a").shape(), (Shape{16, 4}));
  EXPECT_EQ(lora.parameter("lora_b").shape(), (Shape{4, 8}));
  auto a = lora.parameter("lora_a").to_vector<float>();
  for (float v : a) EXPECT_LE(std::abs(v), 0.25f);
  EXPECT_GT(*std::max_element(a.begin(), a.end()), 0.1f);
  for (float v : lora.parameter("lora_b").to_vector<float>()) EXPECT_EQ(v, 0.0f);
  auto trainable = lora.trainable_parameters();
  EXPECT_EQ(trainable.size(), 2u);
  EXPECT_TRUE(trainable.count("lora_a") && trainable.count("lora_b"));
  EXPECT_TRUE(lora.parameters().count("linear.weight"));
  array x = pseudo_random({3, 16}, 7);
  expect_close(lora(x), (*base)(x), 1e-6f);  // B = 0: the base output
  EXPECT_THROW(LoRALinear(base, 0, 1.0f), std::invalid_argument);
}

TEST(LoRALinear, ForwardMatchesFormulaAndFusion) {
  auto base = make_linear(16, 8, true, 2);
  LoRALinear lora(base, 4, 2.5f);
  array a = pseudo_random({16, 4}, 3);
  array b = pseudo_random({4, 8}, 4);
  lora.update({{"lora_a", a}, {"lora_b", b}});
  array x = pseudo_random({2, 3, 16}, 5);
  array expected = add((*base)(x), multiply(matmul(matmul(x, a), b), array(2.5f)));
  expect_close(lora(x), expected, 1e-5f);
  array fused = add(matmul(x, transpose(lora.fused_weight())), base->parameter("bias"));
  expect_close(fused, expected, 1e-5f);
}

TEST(DoRALinear, MagnitudeRenormalizesAndFuses) {
  auto base = make_linear(16, 8, true, 6);
  DoRALinear dora(base, 4, 2.0f);
  array x = pseudo_random({3, 16}, 8);
  expect_close(dora(x), (*base)(x), 1e-5f);  // B = 0 and m = ||W||: the base output
  array a = pseudo_random({16, 4}, 9);
  array b = pseudo_random({4, 8}, 10);
  array m = pseudo_random({8}, 11);
  dora.update({{"lora_a", a}, {"lora_b", b}, {"m", m}});
  array adapted = add(base->weight(), multiply(transpose(matmul(a, b)), array(2.0f)));
  array norms = sqrt(sum(square(adapted), 1));
  array expected =
      add(multiply(divide(m, norms), matmul(x, transpose(adapted))), base->parameter("bias"));
  expect_close(dora(x), expected, 1e-5f);
  expect_close(add(matmul(x, transpose(dora.fused_weight())), base->parameter("bias")), expected, 1e-5f);
}

TEST(LoRALinear, QuantizedBase) {
  auto base = make_linear(64, 8, false, 12);
  auto q = QuantizedLinear::from_linear(*base, 32, 4);
  LoRALinear qlora(q, 4, 1.0f);
  EXPECT_EQ(qlora.parameter("lora_a").shape(), (Shape{64, 4}));
  array a = pseudo_random({64, 4}, 13);
  array b = pseudo_random({4, 8}, 14);
  qlora.update({{"lora_a", a}, {"lora_b", b}});
  array x = pseudo_random({2, 64}, 15);
  expect_close(qlora(x), add((*q)(x), matmul(matmul(x, a), b)), 1e-4f);
  array w = dequantize(q->parameter("weight"), q->parameter("scales"), q->parameter("biases"), 32, 4);
  expect_close(qlora.fused_weight(), add(w, transpose(matmul(a, b))), 1e-5f);
}

TEST(LoRALinear, DropoutOnlyInTraining) {
  auto base = make_linear(16, 8, false, 16);
  LoRALinear lora(base, 4, 1.0f, 0.5f);
  lora.update({{"lora_b", pseudo_random({4, 8}, 17)}});
  array x = pseudo_random({4, 16}, 18);
  expect_close(lora(x), lora(x), 0.0f);
  lora.train(true);
  auto y1 = lora(x).to_vector<float>();
  auto y2 = lora(x).to_vector<float>();
  EXPECT_NE(y1, y2);
}

TEST(LoRAGradcheck, LoRAInputsAndAdapter) {
  auto base = make_linear(6, 5, true, 19);
  LoRALinear lora(base, 3, 1.5f);
  testing::check_vjp(
      [&](const std::vector<array>& xs) {
        lora.update({{"lora_a", xs[1]}, {"lora_b", xs[2]}});
        return lora(xs[0]);
      },
      {pseudo_random({2, 6}, 20), pseudo_random({6, 3}, 21), pseudo_random({3, 5}, 22)});
}

TEST(LoRAGradcheck, DoRAInputsAndMagnitude) {
  auto base = make_linear(6, 5, true, 23);
  DoRALinear dora(base, 3, 1.5f);
  dora.update({{"lora_a", pseudo_random({6, 3}, 24)}, {"lora_b", pseudo_random({3, 5}, 25)}});
  testing::check_vjp(
      [&](const std::vector<array>& xs) {
        dora.update({{"m", xs[1]}});
        return dora(xs[0]);
      },
      {pseudo_random({2, 6}, 26), pseudo_random({5}, 27)});
}

TEST(LoRAGradcheck, DoRAAdapterWithTheNormHeldConstant) {
  // mlx-lm's DoRA treats the row norm as a constant; compare A and B gradients against a
  // function whose norm is computed from fixed A0, B0.
  auto base = make_linear(6, 5, false, 28);
  DoRALinear dora(base, 3, 1.5f);
  array a0 = pseudo_random({6, 3}, 29);
  array b0 = pseudo_random({3, 5}, 30);
  array x = pseudo_random({2, 6}, 31);
  array m = dora.parameter("m");
  array norms = sqrt(sum(square(add(base->weight(), multiply(transpose(matmul(a0, b0)), array(1.5f)))), 1));
  auto reference = [&](const std::vector<array>& xs) {
    array out = add(matmul(x, transpose(base->weight())), multiply(matmul(matmul(x, xs[0]), xs[1]), array(1.5f)));
    return multiply(divide(m, norms), out);
  };
  auto ours = [&](const std::vector<array>& xs) {
    dora.update({{"lora_a", xs[0]}, {"lora_b", xs[1]}});
    return dora(x);
  };
  array cot = pseudo_random({2, 5}, 32);
  auto [v1, g1] = vjp([&](const std::vector<array>& xs) { return std::vector<array>{ours(xs)}; }, {a0, b0}, {cot});
  auto [v2, g2] =
      vjp([&](const std::vector<array>& xs) { return std::vector<array>{reference(xs)}; }, {a0, b0}, {cot});
  expect_close(v1[0], v2[0], 1e-5f);
  expect_close(g1[0], g2[0], 1e-5f);
  expect_close(g1[1], g2[1], 1e-5f);
  testing::check_vjp(reference, {a0, b0});
}

TEST(LoRAGradcheck, QuantizedLinearInputAndQLoRA) {
  auto q = QuantizedLinear::from_linear(*make_linear(64, 4, true, 33), 32, 4);
  testing::check_vjp([&](const std::vector<array>& xs) { return (*q)(xs[0]); }, {pseudo_random({2, 64}, 34)});
  LoRALinear qlora(q, 2, 2.0f);
  testing::check_vjp(
      [&](const std::vector<array>& xs) {
        qlora.update({{"lora_a", xs[1]}, {"lora_b", xs[2]}});
        return qlora(xs[0]);
      },
      {pseudo_random({2, 64}, 35), pseudo_random({64, 2}, 36, 0.1f), pseudo_random({2, 4}, 37)});
}

}  // namespace
}  // namespace tessera::nn
