// Matrix multiplication primitive.
#pragma once

#include "core/primitive.h"

namespace tessera {

// a [..., M, K] @ b [..., K, N] -> [..., M, N]; both inputs already carry the broadcast batch
// shape (as views), so the kernel reads matrices in place through their strides.
class Matmul : public UnaryPrimitive {
 public:
  explicit Matmul(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "matmul"; }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Matmul*>(&other) != nullptr; }
};

}  // namespace tessera
