// Depends: the identity on its first inputs, evaluated only after its other inputs. It orders
// work in a lazy graph, e.g. a checkpointed recomputation after the cotangents that need it.
#pragma once

#include "core/primitive.h"

namespace tessera {

// inputs: the `num_passed` arrays passed through, then the dependencies; one output per passed
// array, sharing its buffer.
class Depends : public Primitive {
 public:
  Depends(Device d, size_t num_passed) : Primitive(d), num_passed_(num_passed) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "depends"; }

 private:
  size_t num_passed_;
};

}  // namespace tessera
