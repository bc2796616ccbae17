// Primitive: the operation that computes one or more arrays from its inputs.
//
// Ops build a graph of primitives; eval runs eval_cpu / eval_gpu in topological order; the
// transforms call vjp in reverse order. Each op family declares its primitives in
// src/core/primitives/<family>.h.
#pragma once

#include <vector>

#include "tessera/array.h"
#include "tessera/device.h"

namespace tessera {

class Primitive {
 public:
  explicit Primitive(Device device) : device_(device) {}
  virtual ~Primitive() = default;
  Primitive(const Primitive&) = delete;
  Primitive& operator=(const Primitive&) = delete;

  Device device() const { return device_; }

  // Computes `outputs` (already shaped and typed) from evaluated `inputs`. Each output gets a
  // buffer through set_data, copy_shared_buffer or move_shared_buffer.
  virtual void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) = 0;
  // No GPU backend is compiled into this build: asking for one is an error, not a fallback.
  virtual void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs);

  // Vector-Jacobian product: one cotangent per output in, one result per entry of argnums
  // (the input positions that need gradients) out.
  virtual std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>& outputs);

  virtual const char* name() const = 0;
  virtual bool is_equivalent(const Primitive&) const { return false; }
  // Output shapes from input shapes, for primitives that can be re-applied to new inputs.
  virtual std::vector<Shape> output_shapes(const std::vector<array>& inputs);

 private:
  Device device_;
};

// A primitive with exactly one output.
class UnaryPrimitive : public Primitive {
 public:
  using Primitive::Primitive;

  virtual void eval_cpu(const std::vector<array>& inputs, array& out) = 0;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) final { eval_cpu(inputs, outputs[0]); }
};

}  // namespace tessera
