#include "core/primitives/shape.h"

#include <optional>

#include "backend/cpu/copy.h"
#include "backend/cpu/elementwise.h"
#include "core/allocator.h"
#include "core/dtype_dispatch.h"
#include "core/primitives/elementwise.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

// Makes `out` a view of `in` with the given strides and element offset.
void share_view(const array& in, array& out, const Strides& strides, int64_t offset) {
  array::Flags flags = flags_for(out.shape(), strides, out.size());
  size_t data_size = flags.contiguous ? out.size() : span_of(out.shape(), strides);
  out.copy_shared_buffer(in, strides, flags, data_size, offset);
}

// Strides that present `in` with `shape` without moving data, when they exist (the merge/split
// analysis NumPy uses: each group of old axes that maps onto a group of new axes must itself be
// contiguous).
std::optional<Strides> reshape_strides(const array& in, const Shape& shape) {
  Shape old_shape;
  Strides old_strides;
  for (size_t i = 0; i < in.ndim(); ++i) {
    if (in.shape()[i] != 1) {
      old_shape.push_back(in.shape()[i]);
      old_strides.push_back(in.strides()[i]);
    }
  }
  Strides strides(shape.size(), 0);
  size_t oi = 0, oj = 1, ni = 0, nj = 1;
  const size_t on = old_shape.size(), nn = shape.size();
  while (ni < nn && oi < on) {
    int64_t np = shape[ni], op = old_shape[oi];
    while (np != op) {
      if (np < op) {
        np *= shape[nj++];
      } else {
        op *= old_shape[oj++];
      }
    }
    for (size_t k = oi; k + 1 < oj; ++k) {
      if (old_strides[k] != old_shape[k + 1] * old_strides[k + 1]) return std::nullopt;
    }
    strides[nj - 1] = old_strides[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) strides[k - 1] = strides[k] * shape[k];
    ni = nj++;
    oi = oj++;
  }
  for (size_t k = ni; k < nn; ++k) strides[k] = 1;  // trailing size-1 axes
  return strides;
}

}  // namespace

// ---- Reshape ----
void Reshape::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous) {
    share_view(in, out, row_major_strides(out.shape()), 0);
    return;
  }
  if (out.size() > 0) {
    if (auto strides = reshape_strides(in, out.shape())) {
      share_view(in, out, *strides, 0);
      return;
    }
  }
  cpu::copy_to_contiguous(in, out);
}

std::vector<array> Reshape::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>&) {
  return {reshape(cotangents[0], primals[0].shape())};
}

bool Reshape::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Reshape*>(&other);
  return o && o->shape_ == shape_;
}

// ---- Transpose ----
void Transpose::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides strides(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) strides[i] = in.strides()[axes_[i]];
  array::Flags flags = flags_for(out.shape(), strides, in.data_size());
  out.copy_shared_buffer(in, strides, flags, in.data_size());
}

std::vector<array> Transpose::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  std::vector<int> inverse(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) inverse[axes_[i]] = static_cast<int>(i);
  return {transpose(cotangents[0], inverse)};
}

bool Transpose::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Transpose*>(&other);
  return o && o->axes_ == axes_;
}

// ---- Broadcast ----
void Broadcast::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides strides = cpu::broadcast_strides(in, out.shape());
  array::Flags flags = flags_for(out.shape(), strides, in.data_size());
  out.copy_shared_buffer(in, strides, flags, in.data_size());
}

std::vector<array> Broadcast::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  return {reduce_to_shape(cotangents[0], primals[0].shape())};
}

bool Broadcast::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Broadcast*>(&other);
  return o && o->shape_ == shape_;
}

// ---- Slice ----
void Slice::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  int64_t offset = 0;
  Strides strides(in.ndim());
  for (size_t i = 0; i < in.ndim(); ++i) {
    if (out.shape()[i] > 0) offset += start_[i] * in.strides()[i];
    strides[i] = in.strides()[i] * strides_[i];
  }
  if (out.size() == 0) offset = 0;
  share_view(in, out, strides, offset);
}

std::vector<array> Slice::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>&, const std::vector<array>&) {
  const array& in = primals[0];
  return {slice_update(zeros(in.shape(), cotangents[0].dtype()), cotangents[0], start_, stop_, strides_)};
}

bool Slice::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Slice*>(&other);
  return o && o->start_ == start_ && o->stop_ == stop_ && o->strides_ == strides_;
}

// ---- SliceUpdate ----
void SliceUpdate::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& src = inputs[0];
  const array& update = inputs[1];
  if (src.flags().row_contiguous && src.is_donatable()) {
    out.move_shared_buffer(src);
  } else {
    cpu::copy_to_contiguous(src, out);
  }
  Shape region(out.ndim());
  Strides out_strides = row_major_strides(out.shape());
  Strides region_strides(out.ndim());
  int64_t offset = 0;
  for (size_t i = 0; i < out.ndim(); ++i) {
    int64_t step = strides_[i];
    int64_t n = step > 0 ? (stop_[i] - start_[i] + step - 1) / step : (start_[i] - stop_[i] - step - 1) / -step;
    region[i] = std::max<int64_t>(0, n);
    region_strides[i] = out_strides[i] * step;
    offset += start_[i] * out_strides[i];
  }
  if (shape_size(region) == 0) return;
  cpu::copy_region(update, cpu::broadcast_strides(update, region), out, region, region_strides, offset);
}

std::vector<array> SliceUpdate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  const array& update = primals[1];
  array region = slice(g, start_, stop_, strides_);
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      grads.push_back(slice_update(g, zeros(region.shape(), g.dtype()), start_, stop_, strides_));
    } else {
      grads.push_back(astype(reduce_to_shape(region, update.shape()), update.dtype()));
    }
  }
  return grads;
}

bool SliceUpdate::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const SliceUpdate*>(&other);
  return o && o->start_ == start_ && o->stop_ == stop_ && o->strides_ == strides_;
}

// ---- Concatenate ----
void Concatenate::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  Strides out_strides = row_major_strides(out.shape());
  int64_t position = 0;
  for (const auto& in : inputs) {
    cpu::copy_region(in, in.strides(), out, in.shape(), out_strides, position * out_strides[axis_]);
    position += in.shape()[axis_];
  }
}

std::vector<array> Concatenate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  std::vector<int64_t> starts;
  int64_t position = 0;
  for (const auto& p : primals) {
    starts.push_back(position);
    position += p.shape()[axis_];
  }
  std::vector<array> grads;
  for (int arg : argnums) {
    Shape start(g.ndim(), 0);
    Shape stop = g.shape();
    start[axis_] = starts[arg];
    stop[axis_] = starts[arg] + primals[arg].shape()[axis_];
    grads.push_back(slice(g, start, stop));
  }
  return grads;
}

bool Concatenate::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Concatenate*>(&other);
  return o && o->axis_ == axis_;
}

// ---- Pad ----
void Pad::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  cpu::fill(out, inputs[1], out.size());
  Strides out_strides = row_major_strides(out.shape());
  int64_t offset = 0;
  for (size_t i = 0; i < out.ndim(); ++i) offset += low_[i] * out_strides[i];
  cpu::copy_region(in, in.strides(), out, in.shape(), out_strides, offset);
}

std::vector<array> Pad::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>&) {
  const array& in = primals[0];
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg != 0) throw std::invalid_argument("[pad] The gradient with respect to the pad value is not supported.");
    Shape stop(in.ndim());
    for (size_t i = 0; i < in.ndim(); ++i) stop[i] = low_[i] + in.shape()[i];
    grads.push_back(slice(cotangents[0], low_, stop));
  }
  return grads;
}

bool Pad::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Pad*>(&other);
  return o && o->low_ == low_ && o->high_ == high_;
}

// ---- AsStrided ----
void AsStrided::eval_cpu(const std::vector<array>& inputs, array& out) { share_view(inputs[0], out, strides_, offset_); }

bool AsStrided::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AsStrided*>(&other);
  return o && o->strides_ == strides_ && o->offset_ == offset_;
}

// ---- Copy ----
void Copy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (reuse_contiguous_ && in.flags().row_contiguous) {
    out.copy_shared_buffer(in);
    return;
  }
  cpu::copy_to_contiguous(in, out);
}

std::vector<array> Copy::vjp(const std::vector<array>&, const std::vector<array>& cotangents, const std::vector<int>&,
                             const std::vector<array>&) {
  return {cotangents[0]};
}

bool Copy::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Copy*>(&other);
  return o && o->reuse_contiguous_ == reuse_contiguous_;
}

// ---- Full ----
void Full::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& value = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (value.size() == 1) {
    cpu::fill(out, value, out.size());
  } else {
    cpu::copy_region(value, cpu::broadcast_strides(value, out.shape()), out, out.shape(),
                     row_major_strides(out.shape()), 0);
  }
}

std::vector<array> Full::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  return {astype(reduce_to_shape(cotangents[0], primals[0].shape()), primals[0].dtype())};
}

// ---- AsType ----
void AsType::eval_cpu(const std::vector<array>& inputs, array& out) { cpu::copy_to_contiguous(inputs[0], out); }

std::vector<array> AsType::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>&, const std::vector<array>&) {
  return {astype(cotangents[0], primals[0].dtype())};
}

bool AsType::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AsType*>(&other);
  return o && o->dtype_ == dtype_;
}

// ---- StopGradient ----
void StopGradient::eval_cpu(const std::vector<array>& inputs, array& out) { out.copy_shared_buffer(inputs[0]); }

std::vector<array> StopGradient::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>&, const std::vector<array>&) {
  return {zeros_like(primals[0])};
}

// ---- Arange ----
void Arange::eval_cpu(const std::vector<array>&, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = out.data<T>();
    for (size_t i = 0; i < out.size(); ++i) dst[i] = cast_to<T>(start_ + static_cast<double>(i) * step_);
  });
}

bool Arange::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Arange*>(&other);
  return o && o->start_ == start_ && o->step_ == step_;
}

}  // namespace tessera
