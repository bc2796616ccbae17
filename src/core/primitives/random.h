// Random primitives. Input 0 is always the key: a uint32 array of shape (2,), possibly strided.
#pragma once

#include "core/primitive.h"

namespace tessera {

// Raw uint32 words of the key's stream.
class RandomBits : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "random::bits"; }
};

// Uniform on [low, high) in the output's float dtype. Inputs key, low, high: low and high are
// float32, each either a single element or row-contiguous with the output's shape.
class RandomUniform : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "random::uniform"; }
};

// loc + scale * N(0, 1) in the output's float dtype.
class RandomNormal : public UnaryPrimitive {
 public:
  RandomNormal(Device d, float loc, float scale) : UnaryPrimitive(d), loc_(loc), scale_(scale) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "random::normal"; }

 private:
  float loc_;
  float scale_;
};

}  // namespace tessera
