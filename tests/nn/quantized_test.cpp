// QuantizedLinear / QuantizedEmbedding against their float layers, and the module-tree swap.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera::nn {
namespace {

array pseudo_random(const Shape& shape, uint32_t seed) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  std::vector<float> v(n);
  uint32_t state = seed * 747796405u + 2891336453u;
  for (auto& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  return array(v, shape, float32);
}

void expect_close(array got, array want, float tol) {
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], tol) << "element " << i;
}

class Tiny : public Module {
 public:
  Tiny() {
    embed = register_module("embed", std::make_shared<Embedding>(10, 64));
    proj = register_module<UnaryModule>("proj", std::make_shared<Linear>(64, 32, true));
    odd = register_module<UnaryModule>("odd", std::make_shared<Linear>(48, 8, false));
    head = register_module<UnaryModule>("head", std::make_shared<Linear>(32, 10, false));
  }
  Child<Embedding> embed;
  Child<UnaryModule> proj, odd, head;
};

TEST(QuantizedLinear, MatchesLinearWithDequantizedWeight) {
  Linear linear(128, 24, true);
  linear.update({{"weight", pseudo_random({24, 128}, 1)}, {"bias", pseudo_random({24}, 2)}});
  auto q = QuantizedLinear::from_linear(linear, 64, 4);
  array x = pseudo_random({3, 5, 128}, 3);
  array wd = dequantize(q->parameter("weight"), q->parameter("scales"), q->parameter("biases"), 64, 4);
  // Few-row products round x to steps of 2^-15 of each block's maximum (int8 dot products).
  expect_close((*q)(x), add(matmul(x, transpose(wd)), linear.parameter("bias")), 1e-3f);
  // 8 bits is close to the float layer itself.
  auto q8 = QuantizedLinear::from_linear(linear, 32, 8);
  expect_close((*q8)(x), linear(x), 0.05f);
  EXPECT_EQ(q8->parameter("weight").dtype(), uint32);
  EXPECT_EQ(q8->parameter("weight").shape(), (Shape{24, 32}));
  EXPECT_TRUE(q8->trainable_parameters().empty());
}

// A layer's q, k and v side by side: each output exactly its layer's, through one product where the
// layers share their quantization (biases added), layer by layer where they do not.
TEST(QuantizedLinear, SideBySideOutputsAreEachLayersOwn) {
  auto quantized = [](int out, bool bias, int bits, uint32_t seed) {
    Linear linear(512, out, bias);
    linear.update({{"weight", pseudo_random({out, 512}, seed)}});
    if (bias) linear.update({{"bias", pseudo_random({out}, seed + 1)}});
    return QuantizedLinear::from_linear(linear, 32, bits);
  };
  const auto q = quantized(64, true, 4, 1), k = quantized(32, false, 4, 3), v = quantized(32, true, 4, 5);
  const auto v8 = quantized(32, true, 8, 7);
  const array x = astype(pseudo_random({2, 1, 512}, 9), bfloat16);
  for (bool int8 : {false, true}) {
    for (auto* layer : {q.get(), k.get(), v.get()}) layer->set_int8_activations(int8);
    for (const auto& layers : {std::vector<UnaryModule*>{q.get(), k.get(), v.get()},
                               std::vector<UnaryModule*>{q.get(), k.get(), v8.get()}}) {
      const std::vector<array> outs = apply_side_by_side(layers, x);
      ASSERT_EQ(outs.size(), layers.size());
      for (size_t i = 0; i < layers.size(); ++i)
        EXPECT_EQ(outs[i].to_vector<float>(), (*layers[i])(x).to_vector<float>()) << "layer " << i << ", int8 " << int8;
    }
  }
  Linear plain(512, 8, false);
  const std::vector<array> mixed = apply_side_by_side({q.get(), &plain}, x);
  EXPECT_EQ(mixed[1].to_vector<float>(), plain(x).to_vector<float>());
}

TEST(QuantizedEmbedding, LookupAndTiedHead) {
  Embedding embedding(12, 64);
  embedding.update({{"weight", pseudo_random({12, 64}, 4)}});
  auto q = QuantizedEmbedding::from_embedding(embedding, 32, 6);
  array wd = dequantize(q->parameter("weight"), q->parameter("scales"), q->parameter("biases"), 32, 6);
  array ids = array(std::vector<int>{0, 11, 5, 5}, {2, 2}, int32);
  expect_close((*q)(ids), take(wd, ids, 0), 0.0f);
  array h = pseudo_random({2, 64}, 5);
  // Few-row products round x to steps of 2^-15 of each block's maximum (int8 dot products).
  expect_close(q->as_linear(h), matmul(h, transpose(wd)), 1e-3f);
  expect_close(q->as_linear(h), embedding.as_linear(h), 0.1f);
}

TEST(Quantize, SwapsQuantizableLayersOfATree) {
  Tiny model;
  const auto replaced = quantize(model, 32, 4);
  std::vector<std::string> paths;
  for (const auto& [path, spec] : replaced) paths.push_back(path);
  // "odd" has 48 inputs: not a multiple of 32, left in float.
  EXPECT_EQ(paths, (std::vector<std::string>{"embed", "head", "proj"}));
  EXPECT_NE(dynamic_cast<QuantizedEmbedding*>(model.module("embed").get()), nullptr);
  EXPECT_NE(dynamic_cast<QuantizedLinear*>(model.module("proj").get()), nullptr);
  EXPECT_NE(dynamic_cast<Linear*>(model.module("odd").get()), nullptr);
  const auto params = model.parameters();
  EXPECT_EQ(params.at("proj.weight").shape(), (Shape{32, 8}));
  EXPECT_EQ(params.at("proj.scales").shape(), (Shape{32, 2}));
  EXPECT_TRUE(params.count("proj.bias"));
  // The parent calls the quantized children through its slots.
  array y = (*model.head)((*model.proj)((*model.embed)(array(std::vector<int>{1, 2}, {2}, int32))));
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
}

TEST(Quantize, ParameterCountIsThatOfTheFloatTree) {
  Tiny model;
  // embed 10x64, proj 64x32 + 32 bias, odd 48x8, head 32x10.
  const size_t float_count = 640 + 2048 + 32 + 384 + 320;
  EXPECT_EQ(parameter_count(model), float_count);
  quantize(model, 32, 4);
  // Packed words count 8 weights each; scales and biases are not parameters of the model.
  EXPECT_EQ(parameter_count(model), float_count);
  Tiny eight_bit;
  quantize(eight_bit, 32, 8);
  EXPECT_EQ(parameter_count(eight_bit), float_count);
}

TEST(Quantize, PredicateChoosesLayersAndBits) {
  Tiny model;
  const auto replaced = quantize(model, [](const std::string& path, const Module&) -> std::optional<QuantizationSpec> {
    if (path == "head") return QuantizationSpec{32, 8};
    if (path == "proj") return QuantizationSpec{64, 2};
    return std::nullopt;
  });
  ASSERT_EQ(replaced.size(), 2u);
  auto* head = dynamic_cast<QuantizedLinear*>(model.module("head").get());
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->bits(), 8);
  EXPECT_EQ(dynamic_cast<QuantizedLinear*>(model.module("proj").get())->group_size(), 64);
  EXPECT_NE(dynamic_cast<Embedding*>(model.module("embed").get()), nullptr);
  EXPECT_EQ(dynamic_cast<QuantizedEmbedding*>(model.module("embed").get()), nullptr);
}

TEST(QuantizedLinear, BadShapesAreClearErrors) {
  EXPECT_THROW(QuantizedLinear(48, 8, false, 32, 4), std::invalid_argument);
  EXPECT_THROW(QuantizedLinear(64, 8, false, 64, 7), std::invalid_argument);
  QuantizedLinear q(64, 8, false, 32, 4);
  // Loading a packed weight of the wrong bit width is a shape error naming the tensor.
  EXPECT_THROW(q.load_weights({{"weight", zeros({8, 16}, uint32)}, {"scales", zeros({8, 2})}, {"biases", zeros({8, 2})}}),
               std::exception);
}

}  // namespace
}  // namespace tessera::nn
