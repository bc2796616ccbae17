#include "tessera/nn/quantized.h"

namespace tessera::nn {

namespace {

size_t local_count(const Module& m) {
  int bits = 0;
  if (const auto* q = dynamic_cast<const QuantizedLinear*>(&m)) bits = q->bits();
  if (const auto* q = dynamic_cast<const QuantizedEmbedding*>(&m)) bits = q->bits();
  size_t count = 0;
  for (const auto& [name, p] : m.local_parameters()) {
    if (bits == 0) {
      count += p.size();
    } else if (name == "weight") {
      count += p.size() * 32 / static_cast<size_t>(bits);
    } else if (name != "scales" && name != "biases") {
      count += p.size();
    }
  }
  return count;
}

}  // namespace

size_t parameter_count(const Module& root) {
  size_t count = local_count(root);
  for (const auto& [path, module] : root.named_modules()) count += local_count(*module);
  return count;
}

}  // namespace tessera::nn
