// Gather / scatter primitives. Out-of-range indices follow cpu/indexing.h: negative ones count
// from the end, reads clamp, writes drop.
#pragma once

#include "core/primitive.h"

namespace tessera {

// take(a, indices, axis): inputs a, indices.
class Take : public UnaryPrimitive {
 public:
  Take(Device d, int axis) : UnaryPrimitive(d), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "take"; }

 private:
  int axis_;
};

// Inputs a, indices (same shape as a except along axis).
class TakeAlongAxis : public UnaryPrimitive {
 public:
  TakeAlongAxis(Device d, int axis) : UnaryPrimitive(d), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "take_along_axis"; }

 private:
  int axis_;
};

// Inputs a, indices, values (indices and values of one shape, like a except along axis).
// Assigns, or adds with `accumulate`.
class PutAlongAxis : public UnaryPrimitive {
 public:
  PutAlongAxis(Device d, int axis, bool accumulate) : UnaryPrimitive(d), axis_(axis), accumulate_(accumulate) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "put_along_axis"; }

 private:
  int axis_;
  bool accumulate_;
};

// Inputs a, then one index array per axis (all of one shape I). Output I + slice_sizes.
class Gather : public UnaryPrimitive {
 public:
  Gather(Device d, std::vector<int> axes, Shape slice_sizes)
      : UnaryPrimitive(d), axes_(std::move(axes)), slice_sizes_(std::move(slice_sizes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "gather"; }

 private:
  std::vector<int> axes_;
  Shape slice_sizes_;
};

// Inputs a, one index array per axis (shape I), updates (I + slice shape with a.ndim() axes).
class ScatterAdd : public UnaryPrimitive {
 public:
  ScatterAdd(Device d, std::vector<int> axes) : UnaryPrimitive(d), axes_(std::move(axes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "scatter_add"; }

 private:
  std::vector<int> axes_;
};

}  // namespace tessera
