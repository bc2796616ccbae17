#include "tessera/nn/layers.h"
#include "tessera/nn/module.h"
#include "tessera/ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tx = tessera;
namespace nn = tessera::nn;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

// A two-level tree shaped like a checkpoint: block.{proj, norm}, head.
class Block : public nn::Module {
 public:
  Block() {
    proj = register_module<nn::UnaryModule>("proj", std::make_shared<nn::Linear>(3, 2, true));
    norm = register_module<nn::UnaryModule>("norm", std::make_shared<nn::RMSNorm>(2));
  }
  tx::array operator()(const tx::array& x) { return (*norm)((*proj)(x)); }
  nn::Child<nn::UnaryModule> proj;
  nn::Child<nn::UnaryModule> norm;
};

class Net : public nn::Module {
 public:
  Net() {
    auto list = std::make_shared<nn::ModuleList<Block>>();
    list->push_back(std::make_shared<Block>());
    list->push_back(std::make_shared<Block>());
    layers = register_module("layers", list);
    head = register_module<nn::UnaryModule>("head", std::make_shared<nn::Linear>(2, 4, false));
    register_parameter("scale", tx::ones({1}));
  }
  nn::Child<nn::ModuleList<Block>> layers;
  nn::Child<nn::UnaryModule> head;
};

std::vector<std::string> keys(const nn::ParameterMap& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) {
    out.push_back(k);
  }
  return out;
}

// Doubles its input: a stand-in for a LoRA or quantized layer.
class Doubler : public nn::UnaryModule {
 public:
  std::string type_name() const override { return "Doubler"; }
  tx::array operator()(const tx::array& x) override { return tx::multiply(x, tx::array(2.0f)); }
};

TEST(Module, ParameterNamesAreDottedPaths) {
  Net net;
  EXPECT_THAT(keys(net.parameters()),
              ElementsAre("head.weight", "layers.0.norm.weight", "layers.0.proj.bias", "layers.0.proj.weight",
                          "layers.1.norm.weight", "layers.1.proj.bias", "layers.1.proj.weight", "scale"));
  EXPECT_EQ(net.parameters().at("layers.1.proj.weight").shape(), (tx::Shape{2, 3}));
  EXPECT_EQ(net.module("layers.1.proj")->type_name(), "Linear");
  EXPECT_THROW(net.module("layers.7"), std::out_of_range);
}

TEST(Module, NamedModulesListsEveryDescendant) {
  Net net;
  std::vector<std::string> names;
  for (const auto& [name, m] : net.named_modules()) {
    names.push_back(name);
  }
  EXPECT_THAT(names, ElementsAre("head", "layers", "layers.0", "layers.0.norm", "layers.0.proj", "layers.1",
                                 "layers.1.norm", "layers.1.proj"));
}

TEST(Module, FreezeExcludesFromTrainableParameters) {
  Net net;
  net.freeze();
  EXPECT_TRUE(net.trainable_parameters().empty());
  EXPECT_EQ(net.parameters().size(), 8u);
  net.module("layers.0.proj")->unfreeze();
  EXPECT_THAT(keys(net.trainable_parameters()), ElementsAre("layers.0.proj.bias", "layers.0.proj.weight"));
  net.unfreeze();
  net.freeze({"bias"});
  EXPECT_THAT(keys(net.trainable_parameters()),
              ElementsAre("head.weight", "layers.0.norm.weight", "layers.0.proj.weight", "layers.1.norm.weight",
                          "layers.1.proj.weight", "scale"));
}

TEST(Module, UpdateSetsParametersByName) {
  Net net;
  net.update({{"layers.1.proj.bias", tx::array({5.0f, 6.0f})}});
  EXPECT_EQ(net.parameters().at("layers.1.proj.bias").to_vector<float>(), (std::vector<float>{5, 6}));
  try {
    net.update({{"layers.1.proj.gamma", tx::zeros({2})}});
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("layers.1.proj.gamma"));
  }
}

TEST(Module, LoadWeightsKeepsDtypeAndChecksNames) {
  Net net;
  nn::ParameterMap weights = net.parameters();
  weights.insert_or_assign("head.weight", tx::zeros({4, 2}, tx::bfloat16));
  net.load_weights(weights);
  EXPECT_EQ(net.parameters().at("head.weight").dtype(), tx::bfloat16);

  nn::ParameterMap missing = weights;
  missing.erase("layers.0.norm.weight");
  try {
    net.load_weights(missing);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing tensor layers.0.norm.weight"));
  }
  net.load_weights(missing, /*strict=*/false);

  nn::ParameterMap extra = weights;
  extra.insert_or_assign("layers.0.attn.weight", tx::zeros({1}));
  try {
    net.load_weights(extra);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("unexpected tensor layers.0.attn.weight"));
  }

  nn::ParameterMap wrong = weights;
  wrong.insert_or_assign("layers.1.proj.weight", tx::zeros({3, 2}));
  try {
    net.load_weights(wrong, /*strict=*/false);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'layers.1.proj.weight' has shape [3, 2], expected [2, 3]"));
  }
}

TEST(Module, ReplacedChildIsUsedByItsParent) {
  Net net;
  auto& block = (*net.layers)[0];
  tx::array x = tx::ones({1, 2});
  net.replace_module("head", std::make_shared<Doubler>());
  EXPECT_EQ((*net.head)(x).to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(net.module("head")->type_name(), "Doubler");
  EXPECT_FALSE(net.parameters().count("head.weight"));

  net.replace_module("layers.0.norm", std::make_shared<Doubler>());
  tx::array y = block(tx::ones({1, 3}));
  tx::array expected = tx::multiply(tx::add(tx::matmul(tx::ones({1, 3}), tx::transpose(block.proj->local_parameters().at("weight"))),
                                             block.proj->local_parameters().at("bias")),
                                    tx::array(2.0f));
  EXPECT_TRUE(tx::allclose(y, expected));
}

TEST(Module, ReplacementMustFitTheSlot) {
  Net net;
  try {
    net.replace_module("layers.0", std::make_shared<Doubler>());
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'layers.0'"));
  }
  EXPECT_THROW(net.replace_module("layers.0.nothing", std::make_shared<Doubler>()), std::out_of_range);
}

TEST(Module, TrainFlagReachesDescendants) {
  Net net;
  EXPECT_FALSE(net.training());
  net.train();
  EXPECT_TRUE(net.module("layers.1.proj")->training());
  net.train(false);
  EXPECT_FALSE(net.module("layers.1.proj")->training());
}

}  // namespace
