#include "core/primitives/depends.h"

#include "tessera/ops.h"

namespace tessera {

void Depends::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i].copy_shared_buffer(inputs[i]);
}

// The passed arrays get their outputs' cotangents; the dependencies only ordered the evaluation.
std::vector<array> Depends::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> grads;
  for (int a : argnums) {
    const auto i = static_cast<size_t>(a);
    grads.push_back(i < num_passed_ ? cotangents[i] : zeros_like(primals[i]));
  }
  return grads;
}

}  // namespace tessera
