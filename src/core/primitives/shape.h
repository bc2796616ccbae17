// Shape and layout primitives. The view primitives (reshape of contiguous data, transpose,
// broadcast, slice, as_strided) share their input's buffer instead of copying.
#pragma once

#include "core/primitive.h"

namespace tessera {

class Reshape : public UnaryPrimitive {
 public:
  Reshape(Device d, Shape shape) : UnaryPrimitive(d), shape_(std::move(shape)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "reshape"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Shape shape_;
};

class Transpose : public UnaryPrimitive {
 public:
  Transpose(Device d, std::vector<int> axes) : UnaryPrimitive(d), axes_(std::move(axes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "transpose"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  std::vector<int> axes_;
};

class Broadcast : public UnaryPrimitive {
 public:
  Broadcast(Device d, Shape shape) : UnaryPrimitive(d), shape_(std::move(shape)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "broadcast_to"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Shape shape_;
};

class Slice : public UnaryPrimitive {
 public:
  Slice(Device d, Shape start, Shape stop, Shape strides)
      : UnaryPrimitive(d), start_(std::move(start)), stop_(std::move(stop)), strides_(std::move(strides)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "slice"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Shape start_, stop_, strides_;
};

// inputs: (src, update); the output is src with update written into the strided region.
class SliceUpdate : public UnaryPrimitive {
 public:
  SliceUpdate(Device d, Shape start, Shape stop, Shape strides)
      : UnaryPrimitive(d), start_(std::move(start)), stop_(std::move(stop)), strides_(std::move(strides)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "slice_update"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Shape start_, stop_, strides_;
};

class Concatenate : public UnaryPrimitive {
 public:
  Concatenate(Device d, int axis) : UnaryPrimitive(d), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "concatenate"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int axis_;
};

// inputs: (a, pad_value scalar of a's dtype).
class Pad : public UnaryPrimitive {
 public:
  Pad(Device d, Shape low, Shape high) : UnaryPrimitive(d), low_(std::move(low)), high_(std::move(high)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "pad"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Shape low_, high_;  // per axis, all axes
};

class AsStrided : public UnaryPrimitive {
 public:
  AsStrided(Device d, Strides strides, int64_t offset)
      : UnaryPrimitive(d), strides_(std::move(strides)), offset_(offset) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "as_strided"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Strides strides_;
  int64_t offset_;
};

// A row-contiguous copy. With reuse_contiguous, an input that is already row-contiguous is
// shared instead of copied (the `contiguous` op).
class Copy : public UnaryPrimitive {
 public:
  Copy(Device d, bool reuse_contiguous) : UnaryPrimitive(d), reuse_contiguous_(reuse_contiguous) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return reuse_contiguous_ ? "contiguous" : "copy"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  bool reuse_contiguous_;
};

// A row-contiguous array filled with its input (a scalar or an array broadcastable to the output).
class Full : public UnaryPrimitive {
 public:
  explicit Full(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "full"; }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Full*>(&other) != nullptr; }
};

class AsType : public UnaryPrimitive {
 public:
  AsType(Device d, Dtype dtype) : UnaryPrimitive(d), dtype_(dtype) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "astype"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  Dtype dtype_;
};

// The identity in the forward pass, a wall for gradients.
class StopGradient : public UnaryPrimitive {
 public:
  explicit StopGradient(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "stop_gradient"; }
};

class Arange : public UnaryPrimitive {
 public:
  Arange(Device d, double start, double step) : UnaryPrimitive(d), start_(start), step_(step) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "arange"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  double start_, step_;
};

}  // namespace tessera
