#include "core/primitives/indexing.h"

#include <numeric>

#include "backend/cpu/indexing.h"
#include "core/allocator.h"
#include "core/primitives/row_contiguous.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int d = from; d < to; ++d) p *= s[d];
  return p;
}

// A fresh row-contiguous output holding a copy of `src` (the base a scatter writes into).
void copy_into_output(const array& src, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  detail::copy_out(src, out.data<void>(), out.dtype());
}

}  // namespace

void Take::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  const array& idx = inputs[1];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  RowContiguous src(a), ind(idx);
  const int nd = static_cast<int>(a.ndim());
  cpu::take_axis(a.dtype(), src.data(), prod(a.shape(), 0, axis_), a.shape(axis_), prod(a.shape(), axis_ + 1, nd),
                 idx.dtype(), ind.data(), static_cast<int64_t>(idx.size()), out.data<void>());
}

std::vector<array> Take::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  const array& a = primals[0];
  const array& idx = primals[1];
  // The cotangent is a[:axis] + idx.shape + a[axis+1:]; scatter_add wants idx.shape first, then
  // a slice with a's rank (1 along axis).
  const int m = static_cast<int>(idx.ndim());
  const int nd = static_cast<int>(cotangents[0].ndim());
  std::vector<int> perm;
  for (int d = axis_; d < axis_ + m; ++d) perm.push_back(d);
  for (int d = 0; d < axis_; ++d) perm.push_back(d);
  for (int d = axis_ + m; d < nd; ++d) perm.push_back(d);
  const array updates = expand_dims(transpose(cotangents[0], perm), m + axis_);
  return {scatter_add(zeros_like(a), {idx}, updates, {axis_})};
}

void TakeAlongAxis::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  const array& idx = inputs[1];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  RowContiguous src(a), ind(idx);
  const int nd = static_cast<int>(a.ndim());
  cpu::take_along_axis(a.dtype(), src.data(), prod(a.shape(), 0, axis_), a.shape(axis_),
                       prod(a.shape(), axis_ + 1, nd), idx.dtype(), ind.data(), idx.shape(axis_), out.data<void>());
}

std::vector<array> TakeAlongAxis::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                      const std::vector<int>&, const std::vector<array>&) {
  const array& a = primals[0];
  const array& idx = primals[1];
  array grad(a.shape(), a.dtype(), std::make_shared<PutAlongAxis>(device(), axis_, true),
             {zeros_like(a), idx, astype(cotangents[0], a.dtype())});
  return {grad};
}

void PutAlongAxis::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  const array& idx = inputs[1];
  const array& values = inputs[2];
  copy_into_output(a, out);
  if (idx.size() == 0 || a.size() == 0) return;
  RowContiguous ind(idx), val(values);
  const int nd = static_cast<int>(a.ndim());
  cpu::put_along_axis(a.dtype(), out.data<void>(), prod(a.shape(), 0, axis_), a.shape(axis_),
                      prod(a.shape(), axis_ + 1, nd), idx.dtype(), ind.data(), idx.shape(axis_), val.data(),
                      accumulate_);
}

std::vector<array> PutAlongAxis::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                     const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  const array& idx = primals[1];
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      // Assigned positions no longer depend on a.
      grads.push_back(accumulate_ ? g
                                  : array(g.shape(), g.dtype(), std::make_shared<PutAlongAxis>(device(), axis_, false),
                                          {g, idx, zeros(idx.shape(), g.dtype())}));
    } else if (arg == 2) {
      grads.push_back(take_along_axis(g, idx, axis_));
    } else {
      grads.push_back(zeros_like(primals[arg]));
    }
  }
  return grads;
}

void Gather::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  RowContiguous src(a);
  std::vector<std::unique_ptr<RowContiguous>> idx;
  std::vector<const void*> ptrs;
  for (size_t i = 1; i < inputs.size(); ++i) {
    idx.push_back(std::make_unique<RowContiguous>(inputs[i]));
    ptrs.push_back(idx.back()->data());
  }
  const int64_t n_index = inputs.size() > 1 ? static_cast<int64_t>(inputs[1].size()) : 1;
  const Dtype index_dtype = inputs.size() > 1 ? inputs[1].dtype() : int32;
  cpu::gather(a.dtype(), src.data(), a.shape(), ptrs, index_dtype, n_index, axes_, slice_sizes_, out.data<void>());
}

std::vector<array> Gather::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> indices(primals.begin() + 1, primals.end());
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      grads.push_back(scatter_add(zeros_like(primals[0]), indices, astype(cotangents[0], primals[0].dtype()), axes_));
    } else {
      grads.push_back(zeros_like(primals[arg]));
    }
  }
  return grads;
}

void ScatterAdd::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  const array& updates = inputs.back();
  copy_into_output(a, out);
  if (a.size() == 0 || updates.size() == 0) return;
  std::vector<std::unique_ptr<RowContiguous>> idx;
  std::vector<const void*> ptrs;
  for (size_t i = 1; i + 1 < inputs.size(); ++i) {
    idx.push_back(std::make_unique<RowContiguous>(inputs[i]));
    ptrs.push_back(idx.back()->data());
  }
  const size_t idx_ndim = inputs.size() > 2 ? inputs[1].ndim() : 0;
  const int64_t n_index = inputs.size() > 2 ? static_cast<int64_t>(inputs[1].size()) : 1;
  const Dtype index_dtype = inputs.size() > 2 ? inputs[1].dtype() : int32;
  Shape slice_sizes(updates.shape().begin() + idx_ndim, updates.shape().end());
  RowContiguous upd(updates);
  cpu::scatter_add(a.dtype(), out.data<void>(), a.shape(), ptrs, index_dtype, n_index, axes_, slice_sizes, upd.data());
}

std::vector<array> ScatterAdd::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  const array& updates = primals.back();
  std::vector<array> indices(primals.begin() + 1, primals.end() - 1);
  const size_t idx_ndim = indices.empty() ? 0 : indices[0].ndim();
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      grads.push_back(g);
    } else if (arg == static_cast<int>(primals.size()) - 1) {
      Shape slice_sizes(updates.shape().begin() + idx_ndim, updates.shape().end());
      grads.push_back(gather(g, indices, axes_, slice_sizes));
    } else {
      grads.push_back(zeros_like(primals[arg]));
    }
  }
  return grads;
}

}  // namespace tessera
