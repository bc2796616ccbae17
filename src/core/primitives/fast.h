// Fused primitives of tessera::fast. Each has a dedicated CPU kernel; the VJPs are written with
// ordinary ops.
#pragma once

#include <optional>

#include "core/primitive.h"

namespace tessera::fast {

// x (float32) [..., D] -> codes, scales and biases of the quantized KV cache's format
// (backend/cpu/attention_quantized.h).
class QuantizeKV : public Primitive {
 public:
  QuantizeKV(Device d, int bits, int group_size) : Primitive(d), bits_(bits), group_size_(group_size) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  const char* name() const override { return "quantize_kv"; }
  bool is_equivalent(const Primitive& other) const override;

 private:
  int bits_;
  int group_size_;
};

// Inputs q (float32 [B, Hq, Tq, D]), the key codes, scales and biases, the value codes, scales
// and biases ([B, Hkv, cap, ...], of which the first `length` rows count) [, mask bool
// [Tq, length]]. Output float32. Not differentiable: it reads a cache.
class QuantizedKVAttention : public UnaryPrimitive {
 public:
  struct Params {
    int length, bits, group_size;
    float scale;
    bool causal;
    std::optional<float> softcap;
    bool has_mask;
    bool q_bfloat16;  // q holds bfloat16 values
  };
  QuantizedKVAttention(Device d, const Params& p) : UnaryPrimitive(d), p_(p) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  const char* name() const override { return "quantized_kv_attention"; }

 private:
  Params p_;
};

// Inputs gate, x of one shape and dtype.
class Swiglu : public UnaryPrimitive {
 public:
  explicit Swiglu(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "swiglu"; }
};

// Inputs x [, weight].
class RMSNorm : public UnaryPrimitive {
 public:
  RMSNorm(Device d, float eps) : UnaryPrimitive(d), eps_(eps) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "rms_norm"; }

 private:
  float eps_;
};

// Inputs x [, weight] [, bias].
class LayerNorm : public UnaryPrimitive {
 public:
  LayerNorm(Device d, float eps, bool has_weight, bool has_bias)
      : UnaryPrimitive(d), eps_(eps), has_weight_(has_weight), has_bias_(has_bias) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "layer_norm"; }

 private:
  float eps_;
  bool has_weight_;
  bool has_bias_;
};

struct RopeParams {
  int dims = 0;
  bool traditional = false;
  std::optional<float> base;
  float scale = 1.0f;
  int offset = 0;                // used when there is no offset input
  bool has_offset_array = false; // inputs: x [, offset] [, freqs]
  bool has_freqs = false;
};

class RoPE : public UnaryPrimitive {
 public:
  RoPE(Device d, RopeParams p) : UnaryPrimitive(d), p_(p) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "rope"; }

 private:
  RopeParams p_;
};

// Inputs q, k, v [, mask broadcast to [B, Hq, Tq, Tk]].
class ScaledDotProductAttention : public UnaryPrimitive {
 public:
  ScaledDotProductAttention(Device d, float scale, bool causal, std::optional<float> softcap, bool has_mask)
      : UnaryPrimitive(d), scale_(scale), causal_(causal), softcap_(softcap), has_mask_(has_mask) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "scaled_dot_product_attention"; }

 private:
  float scale_;
  bool causal_;
  std::optional<float> softcap_;
  bool has_mask_;
};

// Inputs logits [..., V], targets [...] int32; output the float32 loss [...].
class CrossEntropy : public UnaryPrimitive {
 public:
  explicit CrossEntropy(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "cross_entropy"; }
};

// The gradient of CrossEntropy w.r.t. the logits, g * (softmax(logits) - onehot(targets)), in
// one pass. Inputs logits [..., V], targets [...] int32, g [...] float32; output like logits.
class CrossEntropyGrad : public UnaryPrimitive {
 public:
  explicit CrossEntropyGrad(Device d) : UnaryPrimitive(d) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  const char* name() const override { return "cross_entropy_grad"; }
};

}  // namespace tessera::fast
