// LoRA training conformance against peft: the masked LM loss of a batch and its gradient with
// respect to every LoRA parameter.
//
// Cases are discovered: every folder under $TESSERA_FIXTURES_DIR/lora (default
// tests/fixtures/lora) with a reference.json naming its base model (relative to the fixture
// root). peft's A [r, in] and B [out, r] with scaling alpha / r are converted to mlx-lm's layout
// (lora_a = A^T [in, r], lora_b = B^T [r, out], scale = alpha / r); gradients are transposed back.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tessera/io.h"
#include "tessera/lm/model.h"
#include "tessera/nn/lora.h"
#include "tessera/nn/losses.h"
#include "tessera/ops.h"
#include "tessera/transforms.h"

namespace tx = tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path fixtures_dir() {
  const char* env = std::getenv("TESSERA_FIXTURES_DIR");
  return env && *env ? fs::path(env) : fs::path("tests/fixtures");
}

std::vector<fs::path> discover_cases() {
  std::vector<fs::path> cases;
  const fs::path root = fixtures_dir() / "lora";
  if (!fs::is_directory(root)) return cases;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory() && fs::exists(entry.path() / "reference.json")) cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

double relative_error(const tx::array& got, const tx::array& want) {
  auto a = tx::astype(got, tx::float32).to_vector<float>();
  auto b = tx::astype(want, tx::float32).to_vector<float>();
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    ref += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-30);
}

void run_case(const fs::path& dir) {
  json ref = json::parse(std::ifstream(dir / "reference.json"));
  tx::lm::LoadedModel loaded = tx::lm::load((fixtures_dir() / ref.at("base_model").get<std::string>()).string());
  tx::lm::Model& model = *loaded.model;

  tx::nn::LoRAParameters params;
  params.rank = ref.at("r").get<int>();
  params.scale = ref.at("scaling").get<float>();
  params.dropout = ref.value("lora_dropout", 0.0f);
  params.keys = ref.at("target_modules").get<std::vector<std::string>>();
  tx::nn::linear_to_lora_layers(model, -1, params);

  auto adapter = tx::load_safetensors((dir / "adapter_init.safetensors").string()).tensors;
  tx::nn::ParameterMap converted;
  for (const auto& n : ref.at("names")) {
    converted.emplace(n.at("name").get<std::string>(), tx::transpose(adapter.at(n.at("peft_name").get<std::string>())));
  }
  ASSERT_EQ(converted.size(), model.trainable_parameters().size()) << "adapted layers differ from peft's";
  model.update(converted);

  auto batch = tx::load_safetensors((dir / "batch.safetensors").string()).tensors;
  tx::array ids = tx::astype(batch.at("input_ids"), tx::int32);
  tx::array mask = batch.at("loss_mask");
  const int64_t B = ids.shape(0), T = ids.shape(1);
  tx::array inputs = tx::slice(ids, {0, 0}, {B, T - 1});

  auto loss_fn = [&](const tx::ParamMap& p) {
    model.update(p);
    return tx::nn::lm_loss(model(inputs), ids, mask).first;
  };
  auto [loss, grads] = tx::value_and_grad(loss_fn)(model.trainable_parameters());

  auto want = tx::load_safetensors((dir / "reference.safetensors").string()).tensors;
  const float ref_loss = want.at("loss").item<float>();
  EXPECT_NEAR(loss.item<float>(), ref_loss, 1e-5 * std::abs(ref_loss)) << "loss";
  for (const auto& n : ref.at("names")) {
    const std::string name = n.at("name").get<std::string>();
    const std::string peft = n.at("peft_name").get<std::string>();
    ASSERT_TRUE(grads.count(name)) << "no gradient for " << name;
    tx::array g = tx::transpose(grads.at(name));
    ASSERT_EQ(g.shape(), want.at(peft).shape()) << peft;
    EXPECT_LT(relative_error(g, want.at(peft)), 1e-4) << "gradient of " << peft;
  }
}

TEST(LoRAConformance, LossAndGradientsMatchPeft) {
  auto cases = discover_cases();
  ASSERT_FALSE(cases.empty()) << "no LoRA fixtures under " << (fixtures_dir() / "lora");
  for (const auto& dir : cases) {
    SCOPED_TRACE(dir.string());
    run_case(dir);
  }
}

}  // namespace
