#include "tessera/nn/quantized.h"

#include <stdexcept>
#include <tuple>

#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera::nn {

namespace {

void check_dims(const char* layer, int input_dims, int group_size) {
  if (input_dims <= 0 || input_dims % group_size != 0) {
    throw std::invalid_argument(std::string("[") + layer + "] The input dimension (" + std::to_string(input_dims) +
                                ") must be a positive multiple of the group size (" + std::to_string(group_size) +
                                ").");
  }
}

}  // namespace

QuantizedLinear::QuantizedLinear(int input_dims, int output_dims, bool bias, int group_size, int bits)
    : group_size_(group_size), bits_(bits) {
  check_dims("QuantizedLinear", input_dims, group_size);
  // Quantizing a zero matrix validates bits and group size and gives the parameter shapes.
  auto [w, s, b] = quantize(zeros({output_dims, input_dims}, float32), group_size, bits);
  register_parameter("weight", zeros(w.shape(), uint32));
  register_parameter("scales", zeros(s.shape(), float32));
  register_parameter("biases", zeros(b.shape(), float32));
  if (bias) register_parameter("bias", zeros({output_dims}, float32));
  freeze();
}

std::shared_ptr<QuantizedLinear> QuantizedLinear::from_linear(const Linear& linear, int group_size, int bits) {
  const array& weight = linear.weight();
  auto q = std::make_shared<QuantizedLinear>(static_cast<int>(weight.shape(1)), static_cast<int>(weight.shape(0)),
                                             linear.has_bias(), group_size, bits);
  auto [w, s, b] = quantize(weight, group_size, bits);
  eval(w, s, b);
  ParameterMap params{{"weight", w}, {"scales", s}, {"biases", b}};
  if (linear.has_bias()) params.emplace("bias", linear.parameter("bias"));
  q->update(params);
  return q;
}

array QuantizedLinear::operator()(const array& x) {
  array y = quantized_matmul(x, parameter("weight"), parameter("scales"), parameter("biases"), true, group_size_,
                             bits_, int8_activations_);
  return has_parameter("bias") ? add(y, parameter("bias")) : y;
}

std::vector<array> apply_side_by_side(const std::vector<UnaryModule*>& layers, const array& x) {
  const auto* first = layers.empty() ? nullptr : dynamic_cast<const QuantizedLinear*>(layers[0]);
  std::vector<const QuantizedLinear*> quantized;
  for (UnaryModule* layer : layers) {
    const auto* q = dynamic_cast<const QuantizedLinear*>(layer);
    if (!first || !q || q->group_size() != first->group_size() || q->bits() != first->bits() ||
        q->int8_activations() != first->int8_activations()) {
      break;
    }
    quantized.push_back(q);
  }
  std::vector<array> out;
  if (quantized.size() != layers.size() || layers.size() < 2) {
    for (UnaryModule* layer : layers) out.push_back((*layer)(x));
    return out;
  }
  std::vector<PackedMatrix> matrices;
  for (const auto* q : quantized) matrices.push_back(q->packed_matrix());
  out = quantized_matmuls(x, matrices, first->int8_activations());
  for (size_t i = 0; i < out.size(); ++i) {
    if (quantized[i]->has_parameter("bias")) out[i] = add(out[i], quantized[i]->parameter("bias"));
  }
  return out;
}

PackedMatrix QuantizedLinear::packed_matrix() const {
  return {parameter("weight"), parameter("scales"), parameter("biases"), group_size_, bits_};
}

QuantizedEmbedding::QuantizedEmbedding(int num_embeddings, int dims, int group_size, int bits)
    : Embedding(num_embeddings, dims), group_size_(group_size), bits_(bits) {
  check_dims("QuantizedEmbedding", dims, group_size);
  auto [w, s, b] = quantize(zeros({num_embeddings, dims}, float32), group_size, bits);
  register_parameter("weight", zeros(w.shape(), uint32));
  register_parameter("scales", zeros(s.shape(), float32));
  register_parameter("biases", zeros(b.shape(), float32));
  freeze();
}

std::shared_ptr<QuantizedEmbedding> QuantizedEmbedding::from_embedding(const Embedding& embedding, int group_size,
                                                                       int bits) {
  const array& weight = embedding.weight();
  auto q = std::make_shared<QuantizedEmbedding>(static_cast<int>(weight.shape(0)), static_cast<int>(weight.shape(1)),
                                                group_size, bits);
  auto [w, s, b] = quantize(weight, group_size, bits);
  eval(w, s, b);
  q->update({{"weight", w}, {"scales", s}, {"biases", b}});
  return q;
}

array QuantizedEmbedding::operator()(const array& ids) {
  return quantized_take(parameter("weight"), parameter("scales"), parameter("biases"), ids, group_size_, bits_);
}

array QuantizedEmbedding::as_linear(const array& x) {
  return quantized_matmul(x, parameter("weight"), parameter("scales"), parameter("biases"), true, group_size_, bits_,
                          int8_activations_);
}

PackedMatrix QuantizedEmbedding::packed_matrix() const {
  return {parameter("weight"), parameter("scales"), parameter("biases"), group_size_, bits_};
}

std::shared_ptr<Module> to_quantized(const Module& module, const QuantizationSpec& spec) {
  if (dynamic_cast<const QuantizedLinear*>(&module) || dynamic_cast<const QuantizedEmbedding*>(&module)) {
    return nullptr;
  }
  if (const auto* linear = dynamic_cast<const Linear*>(&module)) {
    if (linear->weight().shape(-1) % spec.group_size != 0) return nullptr;
    return QuantizedLinear::from_linear(*linear, spec.group_size, spec.bits);
  }
  if (const auto* embedding = dynamic_cast<const Embedding*>(&module)) {
    if (embedding->weight().shape(-1) % spec.group_size != 0) return nullptr;
    return QuantizedEmbedding::from_embedding(*embedding, spec.group_size, spec.bits);
  }
  return nullptr;
}

std::vector<std::pair<std::string, QuantizationSpec>> quantize(Module& model, const QuantizePredicate& predicate,
                                                               const QuantizedFactory& factory) {
  std::vector<std::pair<std::string, QuantizationSpec>> replaced;
  // Collected first: replacing a module while walking the tree would invalidate the walk.
  const auto modules = model.named_modules();
  for (const auto& [path, module] : modules) {
    if (path.empty()) continue;
    const std::optional<QuantizationSpec> spec = predicate(path, *module);
    if (!spec) continue;
    std::shared_ptr<Module> q = factory(*module, *spec);
    if (!q) continue;
    model.replace_module(path, std::move(q));
    replaced.emplace_back(path, *spec);
  }
  return replaced;
}

std::vector<std::pair<std::string, QuantizationSpec>> quantize(Module& model, int group_size, int bits) {
  return quantize(model, [&](const std::string&, const Module&) {
    return std::optional<QuantizationSpec>(QuantizationSpec{group_size, bits});
  });
}

}  // namespace tessera::nn
