// Ordering evaluation in a lazy graph.
#include "core/primitives/depends.h"
#include "tessera/ops.h"

namespace tessera {

std::vector<array> depends(const std::vector<array>& inputs, const std::vector<array>& dependencies,
                           StreamOrDevice s) {
  if (inputs.empty() || dependencies.empty()) return inputs;
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  for (const auto& in : inputs) {
    shapes.push_back(in.shape());
    dtypes.push_back(in.dtype());
  }
  std::vector<array> all = inputs;
  all.insert(all.end(), dependencies.begin(), dependencies.end());
  return array::make_arrays(std::move(shapes), dtypes,
                            std::make_shared<Depends>(to_device(s, "depends"), inputs.size()), all);
}

}  // namespace tessera
