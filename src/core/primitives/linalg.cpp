#include "core/primitives/linalg.h"

#include <vector>

#include "backend/cpu/kernel_util.h"
#include "backend/cpu/matmul.h"
#include "core/allocator.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

// Describes the last two axes of `a` as a BLAS operand, or returns false when its strides need
// a copy first (BLAS takes a unit stride along one axis and a leading dimension along the other).
bool blas_layout(const array& a, int64_t& ld, bool& transposed) {
  const int nd = static_cast<int>(a.ndim());
  const int64_t rows = a.shape(nd - 2), cols = a.shape(nd - 1);
  const int64_t sr = a.strides()[nd - 2], sc = a.strides()[nd - 1];
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1))) {
    transposed = false;
    ld = rows == 1 ? std::max<int64_t>(cols, 1) : sr;
    return true;
  }
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1))) {
    transposed = true;
    ld = cols == 1 ? std::max<int64_t>(rows, 1) : sc;
    return true;
  }
  return false;
}

std::vector<int64_t> batch_offsets(const Shape& shape_all, const Strides& strides_all) {
  const int nb = static_cast<int>(shape_all.size()) - 2;
  std::vector<int64_t> shape(shape_all.begin(), shape_all.begin() + nb);
  std::vector<int64_t> strides(strides_all.begin(), strides_all.begin() + nb);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<int64_t> offsets(n);
  cpu::StridedWalker w(shape, strides);
  for (int64_t i = 0; i < n; ++i, w.next()) offsets[i] = w.offset();
  return offsets;
}

// An operand read in place when BLAS can take its strides, otherwise from a row-major copy.
struct Operand {
  std::vector<char> copy;
  cpu::GemmOperand gemm;
};

void make_operand(const array& a, Operand& op) {
  int64_t ld = 0;
  bool transposed = false;
  if (blas_layout(a, ld, transposed)) {
    op.gemm = {a.data<void>(), batch_offsets(a.shape(), a.strides()), ld, transposed};
    return;
  }
  op.copy.resize(a.nbytes());
  detail::copy_out(a, op.copy.data(), a.dtype());
  op.gemm = {op.copy.data(), batch_offsets(a.shape(), row_major_strides(a.shape())), a.shape(-1), false};
}

}  // namespace

void Matmul::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  Operand a, b;
  make_operand(inputs[0], a);
  make_operand(inputs[1], b);
  const int nd = static_cast<int>(out.ndim());
  int64_t M = out.shape(nd - 2);
  const int64_t N = out.shape(nd - 1), K = inputs[0].shape(nd - 1);
  // A batch of row-major matrices stacked in memory against one shared right-hand side (x @ W
  // for x [B, T, K]) is a single taller GEMM.
  const auto& ao = a.gemm.batch_offsets;
  bool stacked = ao.size() > 1 && !a.gemm.transposed;
  for (size_t i = 0; stacked && i < ao.size(); ++i) {
    stacked = ao[i] == static_cast<int64_t>(i) * M * a.gemm.ld && b.gemm.batch_offsets[i] == b.gemm.batch_offsets[0];
  }
  if (stacked) {
    M *= static_cast<int64_t>(ao.size());
    a.gemm.batch_offsets = {ao[0]};
    b.gemm.batch_offsets = {b.gemm.batch_offsets[0]};
  }
  cpu::gemm(out.dtype(), M, N, K, 1.0f, a.gemm, b.gemm, 0.0f, out.data<void>());
}

std::vector<array> Matmul::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) grads.push_back(matmul(g, swapaxes(primals[1], -1, -2)));
    else grads.push_back(matmul(swapaxes(primals[0], -1, -2), g));
  }
  return grads;
}

}  // namespace tessera
