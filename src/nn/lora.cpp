#include "tessera/nn/lora.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"
#include "tessera/random.h"

namespace tessera::nn {

namespace {

// Row norms of a float [out, in] matrix, in float32.
array row_norms(const array& w) {
  return sqrt(sum(square(astype(w, float32)), 1));
}

bool is_linear(const Module& m) {
  return dynamic_cast<const Linear*>(&m) != nullptr || dynamic_cast<const QuantizedLinear*>(&m) != nullptr;
}

}  // namespace

std::pair<int, int> linear_dims(const Module& module) {
  if (const auto* q = dynamic_cast<const QuantizedLinear*>(&module)) {
    const array& w = q->parameter("weight");
    return {static_cast<int>(w.shape(1) * 32 / q->bits()), static_cast<int>(w.shape(0))};
  }
  if (const auto* l = dynamic_cast<const Linear*>(&module)) {
    return {static_cast<int>(l->weight().shape(1)), static_cast<int>(l->weight().shape(0))};
  }
  throw std::invalid_argument("[LoRA] a " + module.type_name() + " is not a Linear or QuantizedLinear");
}

LoRALinear::LoRALinear(std::shared_ptr<UnaryModule> linear, int rank, float scale, float dropout) : scale_(scale) {
  if (rank <= 0) throw std::invalid_argument("[LoRALinear] rank must be positive, got " + std::to_string(rank));
  if (dropout < 0.0f || dropout >= 1.0f) {
    throw std::invalid_argument("[LoRALinear] dropout must be in [0, 1), got " + std::to_string(dropout));
  }
  auto [in, out] = linear_dims(*linear);
  linear->freeze();
  linear_ = register_module<UnaryModule>("linear", std::move(linear));
  dropout_ = register_module<Dropout>("dropout", std::make_shared<Dropout>(dropout));
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  register_parameter("lora_a", random::uniform(array(-bound), array(bound), {in, rank}, float32));
  register_parameter("lora_b", zeros({rank, out}, float32));
}

array LoRALinear::base_weight() const {
  const Module& base = *linear_;
  if (const auto* q = dynamic_cast<const QuantizedLinear*>(&base)) {
    return dequantize(q->parameter("weight"), q->parameter("scales"), q->parameter("biases"), q->group_size(),
                      q->bits());
  }
  return base.parameter("weight");
}

array LoRALinear::adapter_output(const array& x) {
  array z = matmul(matmul((*dropout_)(x), parameter("lora_a")), parameter("lora_b"));
  return astype(multiply(z, array(scale_)), x.dtype());
}

array LoRALinear::operator()(const array& x) {
  return add((*linear_)(x), adapter_output(x));
}

array LoRALinear::fused_weight() const {
  array w = base_weight();
  array delta = transpose(matmul(parameter("lora_a"), parameter("lora_b")));
  return astype(add(astype(w, float32), multiply(delta, array(scale_))), w.dtype());
}

DoRALinear::DoRALinear(std::shared_ptr<UnaryModule> linear, int rank, float scale, float dropout)
    : LoRALinear(std::move(linear), rank, scale, dropout) {
  register_parameter("m", row_norms(base_weight()));
}

array DoRALinear::operator()(const array& x) {
  array w = base_weight();
  array y = matmul(x, transpose(w));
  array out = add(y, adapter_output(x));
  array adapted = add(astype(w, float32),
                      multiply(transpose(matmul(parameter("lora_a"), parameter("lora_b"))), array(scale_)));
  array denom = stop_gradient(row_norms(adapted));
  out = multiply(astype(divide(parameter("m"), denom), x.dtype()), out);
  return linear_->has_parameter("bias") ? add(out, linear_->parameter("bias")) : out;
}

array DoRALinear::fused_weight() const {
  array w = base_weight();
  array adapted = add(astype(w, float32),
                      multiply(transpose(matmul(parameter("lora_a"), parameter("lora_b"))), array(scale_)));
  array norm_scale = divide(parameter("m"), row_norms(adapted));
  return astype(multiply(expand_dims(norm_scale, 1), adapted), w.dtype());
}

std::pair<std::string, std::shared_ptr<Module>> find_layers(const Module& model) {
  for (auto& [path, module] : model.named_modules()) {
    const bool named = path == "layers" || (path.size() > 7 && path.ends_with(".layers"));
    if (named && module->has_child("0")) return {path, module};
  }
  throw std::invalid_argument("[LoRA] the model has no block list named 'layers'");
}

namespace {

// The blocks [first, n) that the last `num_layers` (-1: all) select, as paths.
std::vector<std::string> last_blocks(const Module& model, int num_layers) {
  auto [path, layers] = find_layers(model);
  const int n = static_cast<int>(layers->children().size());
  if (num_layers < -1 || num_layers == 0) {
    throw std::invalid_argument("[LoRA] num_layers must be -1 or positive, got " + std::to_string(num_layers));
  }
  // As mlx-lm's layers[-num_layers:], more layers than the model has means all of them.
  const int first = num_layers == -1 ? 0 : std::max(0, n - num_layers);
  std::vector<std::string> out;
  for (int i = first; i < n; ++i) out.push_back(path + "." + std::to_string(i));
  return out;
}

bool key_selects(const std::vector<std::string>& keys, const std::string& relative) {
  if (keys.empty()) return true;
  const std::string last = relative.substr(relative.rfind('.') + 1);
  return std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return k == relative || k == last; });
}

}  // namespace

std::vector<std::string> linear_to_lora_layers(Module& model, int num_layers, const LoRAParameters& params,
                                               bool dora) {
  model.freeze();
  std::vector<std::string> replaced;
  for (const std::string& block_path : last_blocks(model, num_layers)) {
    auto block = model.module(block_path);
    for (auto& [relative, module] : block->named_modules()) {
      if (relative.empty() || !is_linear(*module) || !key_selects(params.keys, relative)) continue;
      auto base = std::dynamic_pointer_cast<UnaryModule>(module);
      std::shared_ptr<Module> wrapped =
          dora ? std::make_shared<DoRALinear>(base, params.rank, params.scale, params.dropout)
               : std::make_shared<LoRALinear>(base, params.rank, params.scale, params.dropout);
      block->replace_module(relative, wrapped);
      replaced.push_back(block_path + "." + relative);
    }
  }
  if (replaced.empty()) throw std::invalid_argument("[LoRA] no linear layer of the model matches the LoRA keys");
  return replaced;
}

void unfreeze_last_layers(Module& model, int num_layers) {
  model.freeze();
  for (const std::string& block_path : last_blocks(model, num_layers)) {
    auto block = model.module(block_path);
    for (auto& [relative, module] : block->named_modules()) {
      if (dynamic_cast<const QuantizedLinear*>(module.get()) != nullptr) {
        throw std::invalid_argument("[full fine-tuning] '" + block_path + "." + relative +
                                    "' is quantized; full fine-tuning needs a float model");
      }
    }
    block->unfreeze();
  }
}

}  // namespace tessera::nn
