// Reduction, softmax and scan primitives.
#pragma once

#include <vector>

#include "backend/cpu/reduce.h"
#include "backend/cpu/scan.h"
#include "backend/cpu/softmax.h"
#include "core/primitive.h"

namespace tessera {

// Cumulative product along the last axis (exclusive, either direction): no public op, it
// gives prod's gradient without dividing by possibly-zero inputs.
array exclusive_cumprod_last(const array& a, bool reverse, Device device);

// Reduces over `axes` keeping them as size-1 axes (the op squeezes them when asked to).
class Reduce : public UnaryPrimitive {
 public:
  Reduce(Device d, cpu::ReduceKind kind, std::vector<int> axes) : UnaryPrimitive(d), kind_(kind), axes_(std::move(axes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override;

 private:
  cpu::ReduceKind kind_;
  std::vector<int> axes_;
};

// argmax / argmin along one axis, kept as a size-1 axis; uint32 indices.
class ArgReduce : public UnaryPrimitive {
 public:
  ArgReduce(Device d, bool is_max, int axis) : UnaryPrimitive(d), is_max_(is_max), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return is_max_ ? "argmax" : "argmin"; }

 private:
  bool is_max_;
  int axis_;
};

// softmax or log-softmax over the last axis.
class Softmax : public UnaryPrimitive {
 public:
  Softmax(Device d, bool log) : UnaryPrimitive(d), log_(log) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return log_ ? "log_softmax" : "softmax"; }

 private:
  bool log_;
};

class Scan : public UnaryPrimitive {
 public:
  Scan(Device d, cpu::ScanKind kind, int axis, bool reverse, bool inclusive)
      : UnaryPrimitive(d), kind_(kind), axis_(axis), reverse_(reverse), inclusive_(inclusive) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override;

 private:
  cpu::ScanKind kind_;
  int axis_;
  bool reverse_;
  bool inclusive_;
};

}  // namespace tessera
