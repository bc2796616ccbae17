#include "core/primitive.h"

#include <stdexcept>
#include <string>

namespace tessera {

void Primitive::eval_gpu(const std::vector<array>&, std::vector<array>&) {
  throw std::runtime_error(std::string("[") + name() +
                           "] The GPU device is not available in this build (no GPU backend compiled in).");
}

std::vector<array> Primitive::vjp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&,
                                  const std::vector<array>&) {
  throw std::invalid_argument(std::string("[") + name() + "] This operation is not differentiable.");
}

std::vector<Shape> Primitive::output_shapes(const std::vector<array>&) {
  throw std::invalid_argument(std::string("[") + name() + "] Output shapes cannot be inferred for this operation.");
}

}  // namespace tessera
