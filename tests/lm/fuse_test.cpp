// Fusing adapters: the fused model gives the logits of base + adapter.
#include <gtest/gtest.h>

#include <filesystem>

#include "tessera/lm/tuner.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/random.h"

namespace tessera::lm {
namespace {

namespace fs = std::filesystem;

LoadOptions with_adapter(const std::string& dir) {
  LoadOptions options;
  options.adapter_path = dir;
  return options;
}

const char* kDemoModel = "models/stories260K";

array tokens() { return reshape(array({1, 400, 32, 77, 5, 260, 19, 3}), {1, 8}); }

// Gives every adapter parameter non-zero values.
void randomize_adapters(Model& model) {
  random::seed(3);
  nn::ParameterMap update;
  for (auto& [name, p] : model.trainable_parameters()) {
    update.emplace(name, name.ends_with(".m") ? add(p, random::uniform({p.shape()}, float32))
                                              : random::normal(p.shape(), float32, 0.0f, 0.05f));
  }
  model.update(update);
}

double max_rel_diff(const array& a, const array& b) {
  auto x = a.to_vector<float>();
  auto y = b.to_vector<float>();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(x[i] - y[i])));
    scale = std::max(scale, static_cast<double>(std::abs(y[i])));
  }
  return worst / scale;
}

void expect_fuse_matches(const std::string& type, bool quantize_base) {
  LoadedModel loaded = load(kDemoModel);
  if (quantize_base) nn::quantize(*loaded.model, 32, 4);
  AdapterConfig config;
  config.fine_tune_type = type;
  config.num_layers = -1;
  config.lora.rank = 4;
  config.lora.scale = 2.0f;
  prepare_for_training(*loaded.model, config);
  randomize_adapters(*loaded.model);
  array adapted = (*loaded.model)(tokens());
  eval(adapted);
  fuse_adapters(*loaded.model, /*dequantize=*/quantize_base);
  for (auto& [path, module] : loaded.model->named_modules()) {
    EXPECT_EQ(dynamic_cast<nn::LoRALinear*>(module.get()), nullptr) << path;
    if (quantize_base) {
      EXPECT_EQ(dynamic_cast<nn::QuantizedLinear*>(module.get()), nullptr) << path;
    }
  }
  EXPECT_LT(max_rel_diff((*loaded.model)(tokens()), adapted), 1e-4) << type;
}

TEST(Fuse, LoRAGivesTheAdaptedLogits) { expect_fuse_matches("lora", false); }
TEST(Fuse, DoRAGivesTheAdaptedLogits) { expect_fuse_matches("dora", false); }
TEST(Fuse, QLoRADequantizedGivesTheAdaptedLogits) { expect_fuse_matches("lora", true); }

TEST(Fuse, QLoRAIsQuantizedAgain) {
  LoadedModel loaded = load(kDemoModel);
  nn::quantize(*loaded.model, 32, 4);
  AdapterConfig config;
  config.num_layers = 1;
  config.lora.keys = {"q_proj"};
  prepare_for_training(*loaded.model, config);
  randomize_adapters(*loaded.model);
  array adapted = (*loaded.model)(tokens());
  fuse_adapters(*loaded.model, false);
  const std::string path = "model.layers.4.self_attn.q_proj";
  auto q = std::dynamic_pointer_cast<nn::QuantizedLinear>(loaded.model->module(path));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->group_size(), 32);
  EXPECT_LT(max_rel_diff((*loaded.model)(tokens()), adapted), 0.05);
}

TEST(Fuse, WritesAModelFolderWithTheAdaptedLogits) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_fuse_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path adapter = dir / "adapter";
  LoadedModel loaded = load(kDemoModel);
  AdapterConfig config;
  config.num_layers = 2;
  prepare_for_training(*loaded.model, config);
  randomize_adapters(*loaded.model);
  save_adapter_config(adapter.string(), config);
  save_adapter_weights(*loaded.model, (adapter / "adapters.safetensors").string());

  LoadedModel base_plus_adapter = load(kDemoModel, with_adapter(adapter.string()));
  const fs::path out = dir / "fused";
  fuse({kDemoModel, adapter.string(), out.string(), false});
  LoadedModel fused = load(out.string());
  EXPECT_LT(max_rel_diff((*fused.model)(tokens()), (*base_plus_adapter.model)(tokens())), 1e-4);
  EXPECT_NE(fused.tokenizer, nullptr);
  EXPECT_FALSE(fs::exists(dir / "fused.tmp"));
  EXPECT_THROW(fuse({kDemoModel, adapter.string(), out.string(), false}), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tessera::lm
