#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "gradcheck.h"
#include "tessera/tessera.h"

namespace tx = tessera;
using tx::array;

namespace {

std::vector<float> vals(const array& a) { return a.to_vector<float>(); }

void expect_near(const array& a, const std::vector<float>& expected, float tol = 1e-5f) {
  auto got = vals(a);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
}

// sum of all elements, built from elementwise and shape ops only.
array total(const array& a) {
  array flat = tx::reshape(a, {static_cast<int64_t>(a.size())});
  array acc = tx::zeros({}, a.dtype());
  for (int64_t i = 0; i < flat.shape(0); ++i) acc = acc + tx::reshape(tx::slice(flat, {i}, {i + 1}), {});
  return acc;
}

}  // namespace

TEST(Transforms, VjpOfSimpleFunction) {
  array x({1.0f, 2.0f, 3.0f});
  auto [outs, grads] =
      tx::vjp([](const std::vector<array>& in) { return std::vector<array>{in[0] * in[0] * 3.0f}; }, {x},
              {array({1.0f, 0.5f, -1.0f})});
  expect_near(outs[0], {3, 12, 27});
  expect_near(grads[0], {6, 6, -18});
  auto [y, g] = tx::vjp([](const array& a) { return tx::exp(a); }, array({0.0f, 1.0f}), array({2.0f, 1.0f}));
  expect_near(y, {1, std::exp(1.0f)});
  expect_near(g, {2, std::exp(1.0f)});
}

TEST(Transforms, GradAndValueAndGrad) {
  auto f = [](const std::vector<array>& in) { return total(in[0] * in[1] + tx::sin(in[0])); };
  array x({0.5f, 1.0f});
  array w({2.0f, -3.0f});
  auto [values, grads] = tx::value_and_grad(f, {0, 1})({x, w});
  ASSERT_EQ(values.size(), 1u);
  EXPECT_NEAR(values[0].item<float>(), 1.0f - 3.0f + std::sin(0.5f) + std::sin(1.0f), 1e-5);
  expect_near(grads[0], {2.0f + std::cos(0.5f), -3.0f + std::cos(1.0f)});
  expect_near(grads[1], {0.5f, 1.0f});
  auto only_w = tx::grad(f, {1})({x, w});
  ASSERT_EQ(only_w.size(), 1u);
  expect_near(only_w[0], {0.5f, 1.0f});
  auto g1 = tx::grad([](const array& a) { return total(tx::square(a)); });
  expect_near(g1(array({1.0f, -2.0f})), {2, -4});
  auto vg1 = tx::value_and_grad([](const array& a) { return total(a * 3.0f); });
  auto [v1, d1] = vg1(array({1.0f}));
  EXPECT_FLOAT_EQ(v1.item<float>(), 3.0f);
  expect_near(d1, {3});
}

TEST(Transforms, ValueAndGradOverParameterTree) {
  tx::ParamMap params{{"layer.weight", array({1.0f, 2.0f})}, {"layer.bias", array(0.5f)}};
  array x({3.0f, 4.0f});
  auto loss = [&x](const tx::ParamMap& p) { return total(p.at("layer.weight") * x) + p.at("layer.bias") * 2.0f; };
  auto [value, grads] = tx::value_and_grad(loss)(params);
  EXPECT_FLOAT_EQ(value.item<float>(), 3.0f + 8.0f + 1.0f);
  ASSERT_EQ(grads.size(), 2u);
  expect_near(grads.at("layer.weight"), {3, 4});
  expect_near(grads.at("layer.bias"), {2});
  EXPECT_EQ(grads.at("layer.bias").shape(), tx::Shape{});
}

TEST(Transforms, UnusedInputsGetZeroGradients) {
  auto f = [](const std::vector<array>& in) { return total(in[0] * 2.0f); };
  auto grads = tx::grad(f, {0, 1})({array({1.0f}), array({5.0f, 6.0f})});
  expect_near(grads[0], {2});
  expect_near(grads[1], {0, 0});
  EXPECT_EQ(grads[1].shape(), (tx::Shape{2}));
}

TEST(Transforms, SharedSubexpressionsAccumulate) {
  // y = a*a + a used through two paths: dy/da = 2a + 1.
  auto f = [](const std::vector<array>& in) {
    array sq = in[0] * in[0];
    return total(sq + in[0] + sq * 0.0f);
  };
  expect_near(tx::grad(f)({array({1.0f, 3.0f})})[0], {3, 7});
}

TEST(Transforms, StopGradientBlocks) {
  auto f = [](const std::vector<array>& in) { return total(in[0] * tx::stop_gradient(in[0])); };
  expect_near(tx::grad(f)({array({2.0f, 5.0f})})[0], {2, 5});
}

TEST(Transforms, ValueAndGradNeedsScalar) {
  auto f = [](const std::vector<array>& in) { return in[0] * 2.0f; };
  EXPECT_THROW(tx::value_and_grad(f)({array({1.0f, 2.0f})}), std::invalid_argument);
  EXPECT_THROW(tx::grad([](const std::vector<array>& in) { return total(in[0]); }, {2})({array({1.0f})}),
               std::out_of_range);
  EXPECT_THROW(tx::vjp([](const std::vector<array>& in) { return std::vector<array>{in[0]}; }, {array({1.0f})},
                       {array({1.0f, 2.0f})}),
               std::invalid_argument);
}

TEST(Transforms, EvalInsideTracedFunctionKeepsGraph) {
  auto f = [](const std::vector<array>& in) {
    array y = tx::exp(in[0]);
    y.eval();  // an evaluation in the middle of tracing must not cut the tape
    EXPECT_GT(y.item<float>(), 0.0f);
    return total(y * 2.0f);
  };
  expect_near(tx::grad(f)({array({0.0f})})[0], {2});
}

TEST(Transforms, GradOfGrad) {
  auto f = [](const array& a) { return total(a * a * a); };
  auto df = [f](const array& a) { return total(tx::grad(f)(a)); };
  expect_near(tx::grad(df)(array({2.0f, -1.0f})), {12, -6});
}

TEST(Transforms, BfloatGradientsKeepTheParameterDtype) {
  array w = tx::astype(array({1.0f, 2.0f}), tx::bfloat16);
  auto g = tx::grad([](const array& a) { return total(tx::astype(a, tx::float32) * 3.0f); })(w);
  EXPECT_EQ(g.dtype(), tx::bfloat16);
  expect_near(g, {3, 3});
}

TEST(Transforms, CheckpointRecomputesWithSameResults) {
  int calls = 0;
  auto block = [&calls](const std::vector<array>& in) {
    ++calls;
    return std::vector<array>{tx::tanh(in[0] * in[1]), in[0] + 1.0f};
  };
  auto ckpt = tx::checkpoint(block);
  auto loss = [&](const std::vector<array>& in) {
    auto outs = ckpt(in);
    return total(outs[0] * 2.0f + outs[1]);
  };
  auto plain = [&](const std::vector<array>& in) {
    auto outs = block(in);
    return total(outs[0] * 2.0f + outs[1]);
  };
  array x({0.3f, -0.7f});
  array w({1.5f, 0.5f});
  auto [v1, g1] = tx::value_and_grad(loss, {0, 1})({x, w});
  auto [v2, g2] = tx::value_and_grad(plain, {0, 1})({x, w});
  EXPECT_NEAR(v1[0].item<float>(), v2[0].item<float>(), 1e-6);
  expect_near(g1[0], vals(g2[0]));
  expect_near(g1[1], vals(g2[1]));
  EXPECT_GE(calls, 3);  // traced for shapes, run forward, re-run for the backward pass
  tx::testing::check_vjp([&](const std::vector<array>& in) { return ckpt(in)[0]; }, {x, w});
}

TEST(Transforms, GradcheckCatchesAWrongGradient) {
  // stop_gradient hides one of the two paths, so the "gradient" disagrees with finite differences.
  EXPECT_NONFATAL_FAILURE(
      tx::testing::check_vjp([](const std::vector<array>& in) { return in[0] * tx::stop_gradient(in[0]); },
                             {array({1.0f})}),
      "input 0, element 0");
}

TEST(Transforms, ConstantsGetNoBackwardPass) {
  // arange has no VJP: the backward pass must not even ask for gradients of values that do not
  // depend on a primal (frozen weights cost no gradient work).
  auto f = [](const std::vector<array>& in) {
    array frozen = tx::astype(tx::arange(3), tx::float32) * 2.0f;
    return total(in[0] * frozen);
  };
  expect_near(tx::grad(f)({array({1.0f, 1.0f, 1.0f})})[0], {0, 2, 4});
}
