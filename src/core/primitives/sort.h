// Sorting and partitioning along one axis.
#pragma once

#include "core/primitive.h"

namespace tessera {

class Sort : public UnaryPrimitive {
 public:
  // kth < 0: full sort; otherwise a partition around kth. `indices` returns uint32 positions.
  Sort(Device d, int axis, bool indices, int kth) : UnaryPrimitive(d), axis_(axis), indices_(indices), kth_(kth) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override;

 private:
  int axis_;
  bool indices_;
  int kth_;
};

}  // namespace tessera
