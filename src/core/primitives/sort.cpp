#include "core/primitives/sort.h"

#include "backend/cpu/sort.h"
#include "core/allocator.h"
#include "core/primitives/indexing.h"
#include "core/primitives/row_contiguous.h"
#include "tessera/ops.h"

namespace tessera {

const char* Sort::name() const {
  if (kth_ < 0) return indices_ ? "argsort" : "sort";
  return indices_ ? "argpartition" : "partition";
}

void Sort::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (a.size() == 0) return;
  RowContiguous src(a);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis_; ++d) outer *= a.shape(d);
  for (int d = axis_ + 1; d < static_cast<int>(a.ndim()); ++d) inner *= a.shape(d);
  cpu::sort_axis(a.dtype(), src.data(), outer, a.shape(axis_), inner, indices_, kth_, out.data<void>());
}

std::vector<array> Sort::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<array>& outputs) {
  if (indices_) return Primitive::vjp(primals, cotangents, argnums, outputs);
  // The values are x gathered at the (arg)sort positions; send each cotangent back there.
  const array& x = primals[0];
  const array order = kth_ < 0 ? argsort(x, axis_) : argpartition(x, kth_, axis_);
  return {array(x.shape(), x.dtype(), std::make_shared<PutAlongAxis>(device(), axis_, true),
                {zeros_like(x), order, astype(cotangents[0], x.dtype())})};
}

}  // namespace tessera
