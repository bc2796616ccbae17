// The model architectures, one file each, and the table that maps model_type to them.
#pragma once

#include "lm/models/config.h"
#include "tessera/lm/model.h"

#include <map>
#include <memory>
#include <string>

namespace tessera::lm {

using ModelFactory = std::shared_ptr<Model> (*)(const ConfigReader& config);

std::shared_ptr<Model> make_llama(const ConfigReader& config);
std::shared_ptr<Model> make_mistral(const ConfigReader& config);
std::shared_ptr<Model> make_mixtral(const ConfigReader& config);
std::shared_ptr<Model> make_qwen2(const ConfigReader& config);
std::shared_ptr<Model> make_qwen3(const ConfigReader& config);
std::shared_ptr<Model> make_qwen3_moe(const ConfigReader& config);
std::shared_ptr<Model> make_phi3(const ConfigReader& config);
std::shared_ptr<Model> make_gemma(const ConfigReader& config);
std::shared_ptr<Model> make_gemma2(const ConfigReader& config);
std::shared_ptr<Model> make_gemma3_text(const ConfigReader& config);

// model_type -> factory.
const std::map<std::string, ModelFactory>& model_factories();

}  // namespace tessera::lm
