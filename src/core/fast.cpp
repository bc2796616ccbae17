// tessera::fast: validation and graph construction for the fused primitives.
#include "tessera/fast.h"

#include <algorithm>

#include "core/primitives/fast.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera::fast {

namespace {

void check_float(const array& a, const char* op, const char* what) {
  if (!is_floating_point(a.dtype())) {
    throw std::invalid_argument(std::string("[") + op + "] " + what + " must be floating point, got " +
                                to_string(a.dtype()) + ".");
  }
}

void check_param(const std::optional<array>& p, int64_t d, const char* op, const char* what) {
  if (!p) return;
  check_float(*p, op, what);
  if (p->ndim() != 1 || p->shape(0) != d) {
    throw std::invalid_argument(std::string("[") + op + "] " + what + " must have shape (" + std::to_string(d) +
                                ") to match the last axis of the input, got " + shape_to_string(p->shape()) + ".");
  }
}

array rope_impl(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
                const std::optional<array>& offset_array, const std::optional<array>& freqs, StreamOrDevice s) {
  if (x.ndim() < 2) {
    throw std::invalid_argument("[rope] Input must have at least 2 dimensions ([..., T, D]), got shape " +
                                shape_to_string(x.shape()) + ".");
  }
  check_float(x, "rope", "Input");
  if (dims <= 0 || dims % 2 != 0 || dims > x.shape(-1)) {
    throw std::invalid_argument("[rope] dims must be even and in (0, " + std::to_string(x.shape(-1)) + "], got " +
                                std::to_string(dims) + ".");
  }
  if (base.has_value() == freqs.has_value()) {
    throw std::invalid_argument("[rope] Exactly one of base and freqs must be given.");
  }
  RopeParams p;
  p.dims = dims;
  p.traditional = traditional;
  p.base = base;
  p.scale = scale;
  p.offset = offset;
  std::vector<array> inputs{x};
  if (offset_array) {
    const bool per_row = x.ndim() >= 3 && offset_array->ndim() == 1 && offset_array->shape(0) == x.shape(0);
    if ((offset_array->size() != 1 && !per_row) || !is_integral(offset_array->dtype())) {
      throw std::invalid_argument("[rope] The offset array must be one integer or one per batch row (" +
                                  std::to_string(x.ndim() >= 3 ? x.shape(0) : 1) + "), got shape " +
                                  shape_to_string(offset_array->shape()) + " of " + to_string(offset_array->dtype()) +
                                  ".");
    }
    p.has_offset_array = true;
    inputs.push_back(*offset_array);
  }
  if (freqs) {
    check_float(*freqs, "rope", "freqs");
    if (freqs->ndim() != 1 || freqs->shape(0) != dims / 2) {
      throw std::invalid_argument("[rope] freqs must have shape (" + std::to_string(dims / 2) + "), got " +
                                  shape_to_string(freqs->shape()) + ".");
    }
    p.has_freqs = true;
    inputs.push_back(*freqs);
  }
  return array(x.shape(), x.dtype(), std::make_shared<RoPE>(to_device(s, "rope"), p), inputs);
}

}  // namespace

array swiglu(const array& gate, const array& x, StreamOrDevice s) {
  check_float(gate, "swiglu", "gate");
  check_float(x, "swiglu", "x");
  if (gate.shape() != x.shape()) {
    throw std::invalid_argument("[swiglu] gate and x must have one shape, got " + shape_to_string(gate.shape()) +
                                " and " + shape_to_string(x.shape()) + ".");
  }
  const Dtype dtype = promote_types(gate.dtype(), x.dtype());
  return array(x.shape(), dtype, std::make_shared<Swiglu>(to_device(s, "swiglu")),
               {astype(gate, dtype), astype(x, dtype)});
}

array rms_norm(const array& x, const std::optional<array>& weight, float eps, StreamOrDevice s) {
  if (x.ndim() == 0) throw std::invalid_argument("[rms_norm] Input must have at least one dimension.");
  check_float(x, "rms_norm", "Input");
  check_param(weight, x.shape(-1), "rms_norm", "weight");
  std::vector<array> inputs{x};
  if (weight) inputs.push_back(*weight);
  return array(x.shape(), x.dtype(), std::make_shared<RMSNorm>(to_device(s, "rms_norm"), eps), inputs);
}

array layer_norm(const array& x, const std::optional<array>& weight, const std::optional<array>& bias, float eps,
                 StreamOrDevice s) {
  if (x.ndim() == 0) throw std::invalid_argument("[layer_norm] Input must have at least one dimension.");
  check_float(x, "layer_norm", "Input");
  check_param(weight, x.shape(-1), "layer_norm", "weight");
  check_param(bias, x.shape(-1), "layer_norm", "bias");
  std::vector<array> inputs{x};
  if (weight) inputs.push_back(*weight);
  if (bias) inputs.push_back(*bias);
  return array(x.shape(), x.dtype(),
               std::make_shared<LayerNorm>(to_device(s, "layer_norm"), eps, weight.has_value(), bias.has_value()),
               inputs);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs, StreamOrDevice s) {
  return rope_impl(x, dims, traditional, base, scale, offset, {}, freqs, s);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, const array& offset,
           const std::optional<array>& freqs, StreamOrDevice s) {
  return rope_impl(x, dims, traditional, base, scale, 0, offset, freqs, s);
}

array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode, const std::optional<array>& mask,
                                   std::optional<float> logit_softcap, StreamOrDevice s) {
  const char* op = "scaled_dot_product_attention";
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) {
    throw std::invalid_argument(std::string("[") + op + "] q, k and v must be 4-D [B, H, T, D], got shapes " +
                                shape_to_string(q.shape()) + ", " + shape_to_string(k.shape()) + " and " +
                                shape_to_string(v.shape()) + ".");
  }
  check_float(q, op, "q");
  check_float(k, op, "k");
  check_float(v, op, "v");
  const int64_t B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2), D = q.shape(3);
  const int64_t Hkv = k.shape(1), Tk = k.shape(2);
  if (k.shape(0) != B || v.shape(0) != B || v.shape(1) != Hkv || v.shape(2) != Tk || k.shape(3) != D) {
    throw std::invalid_argument(std::string("[") + op + "] Shapes do not match: q " + shape_to_string(q.shape()) +
                                ", k " + shape_to_string(k.shape()) + ", v " + shape_to_string(v.shape()) +
                                " (expected q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv]).");
  }
  if (Hkv == 0 || Hq % Hkv != 0) {
    throw std::invalid_argument(std::string("[") + op + "] The number of query heads (" + std::to_string(Hq) +
                                ") must be a multiple of the number of key/value heads (" + std::to_string(Hkv) + ").");
  }
  if (mask_mode != "" && mask_mode != "causal") {
    throw std::invalid_argument(std::string("[") + op + "] Unknown mask mode '" + mask_mode +
                                "' (expected \"\" or \"causal\").");
  }
  if (logit_softcap && !(*logit_softcap > 0.0f)) {
    throw std::invalid_argument(std::string("[") + op + "] logit_softcap must be positive.");
  }
  const Dtype dtype = promote_types(promote_types(q.dtype(), k.dtype()), v.dtype());
  std::vector<array> inputs{astype(q, dtype, s), astype(k, dtype, s), astype(v, dtype, s)};
  if (mask) {
    if (mask->dtype() != bool_ && !is_floating_point(mask->dtype())) {
      throw std::invalid_argument(std::string("[") + op + "] The mask must be boolean or floating point, got " +
                                  to_string(mask->dtype()) + ".");
    }
    const Shape full{B, Hq, Tq, Tk};
    try {
      if (broadcast_shapes(mask->shape(), full) != full) throw std::invalid_argument("");
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(std::string("[") + op + "] A mask of shape " + shape_to_string(mask->shape()) +
                                  " does not broadcast to the scores' shape " + shape_to_string(full) + ".");
    }
    inputs.push_back(broadcast_to(*mask, full, s));
  }
  Shape out_shape{B, Hq, Tq, v.shape(3)};
  return array(out_shape, dtype,
               std::make_shared<ScaledDotProductAttention>(to_device(s, op), scale, mask_mode == "causal",
                                                           logit_softcap, mask.has_value()),
               inputs);
}

std::vector<array> quantize_kv(const array& x, int bits, int group_size, StreamOrDevice s) {
  const char* op = "quantize_kv";
  if (bits != 4 && bits != 8) {
    throw std::invalid_argument(std::string("[") + op + "] bits must be 4 or 8, got " + std::to_string(bits) + ".");
  }
  check_float(x, op, "Input");
  if (x.ndim() == 0 || group_size < 1 || x.shape(-1) % group_size != 0 || (bits == 4 && x.shape(-1) % 2 != 0)) {
    throw std::invalid_argument(std::string("[") + op + "] The last axis of shape " + shape_to_string(x.shape()) +
                                " must split into groups of " + std::to_string(group_size) +
                                (bits == 4 ? " and be even" : "") + ".");
  }
  Shape codes = x.shape(), params = x.shape();
  codes.back() = x.shape(-1) * bits / 8;
  params.back() = x.shape(-1) / group_size;
  return array::make_arrays({codes, params, params}, {uint8, float32, float32},
                            std::make_shared<QuantizeKV>(to_device(s, op), bits, group_size), {astype(x, float32, s)});
}

namespace {

// Checks one of quantized_kv_attention's {codes, scales, biases} against q and returns them.
std::vector<array> checked_store(const std::vector<array>& store, const array& q, int length, int bits,
                                 int group_size, const char* what) {
  const char* op = "quantized_kv_attention";
  const int64_t D = q.shape(3);
  if (store.size() != 3 || store[0].ndim() != 4) {
    throw std::invalid_argument(std::string("[") + op + "] The " + what +
                                " must be {codes, scales, biases}, each [B, Hkv, cap, ...].");
  }
  const Shape codes{q.shape(0), store[0].shape(1), store[0].shape(2), D * bits / 8};
  const Shape params{codes[0], codes[1], codes[2], D / group_size};
  if (store[0].shape() != codes || store[1].shape() != params || store[2].shape() != params ||
      store[0].dtype() != uint8 || store[1].dtype() != float32 || store[2].dtype() != float32) {
    throw std::invalid_argument(std::string("[") + op + "] The " + what + " must be uint8 codes " +
                                shape_to_string(codes) + " and float32 scales and biases " + shape_to_string(params) +
                                ", got " + shape_to_string(store[0].shape()) + ", " + shape_to_string(store[1].shape()) +
                                " and " + shape_to_string(store[2].shape()) + ".");
  }
  if (length < 0 || length > codes[2]) {
    throw std::invalid_argument(std::string("[") + op + "] length " + std::to_string(length) + " is outside the " +
                                std::to_string(codes[2]) + " rows the " + what + " hold.");
  }
  return store;
}

}  // namespace

array quantized_kv_attention(const array& q, const std::vector<array>& keys, const std::vector<array>& values,
                             int length, int bits, int group_size, float scale, const std::string& mask_mode,
                             const std::optional<array>& mask, std::optional<float> logit_softcap, StreamOrDevice s) {
  const char* op = "quantized_kv_attention";
  check_float(q, op, "q");
  if (q.ndim() != 4 || (bits != 4 && bits != 8) || group_size < 1 || q.shape(3) % group_size != 0) {
    throw std::invalid_argument(std::string("[") + op + "] q must be [B, Hq, Tq, D] with D a multiple of the group size " +
                                std::to_string(group_size) + ", and bits 4 or 8; got shape " +
                                shape_to_string(q.shape()) + " and bits " + std::to_string(bits) + ".");
  }
  std::vector<array> inputs{astype(q, float32, s)};
  for (const auto* store : {&keys, &values}) {
    for (const array& a : checked_store(*store, q, length, bits, group_size, store == &keys ? "keys" : "values")) {
      inputs.push_back(a);
    }
  }
  const int64_t Hkv = keys[0].shape(1);
  if (values[0].shape(1) != Hkv || values[0].shape(2) != keys[0].shape(2) || Hkv == 0 || q.shape(1) % Hkv != 0) {
    throw std::invalid_argument(std::string("[") + op + "] The keys and values must hold the same heads and rows, and " +
                                "the query heads (" + std::to_string(q.shape(1)) + ") must be a multiple of theirs.");
  }
  if (mask_mode != "" && mask_mode != "causal") {
    throw std::invalid_argument(std::string("[") + op + "] Unknown mask mode '" + mask_mode + "'.");
  }
  if (logit_softcap && !(*logit_softcap > 0.0f)) {
    throw std::invalid_argument(std::string("[") + op + "] logit_softcap must be positive.");
  }
  if (mask) {
    if (mask->shape() != Shape{q.shape(2), length}) {
      throw std::invalid_argument(std::string("[") + op + "] The mask must be [Tq, length] = " +
                                  shape_to_string(Shape{q.shape(2), length}) + ", got " + shape_to_string(mask->shape()) +
                                  ".");
    }
    inputs.push_back(astype(*mask, bool_, s));
  }
  const QuantizedKVAttention::Params params{length, bits,          group_size,         scale, mask_mode == "causal",
                                            logit_softcap, mask.has_value(), q.dtype() == bfloat16};
  const array out(q.shape(), float32, std::make_shared<QuantizedKVAttention>(to_device(s, op), params), inputs);
  return astype(out, q.dtype(), s);
}

array cross_entropy(const array& logits, const array& targets, StreamOrDevice s) {
  if (logits.ndim() == 0 || targets.ndim() + 1 != logits.ndim() ||
      !std::equal(targets.shape().begin(), targets.shape().end(), logits.shape().begin())) {
    throw std::invalid_argument("[cross_entropy] targets must have the logits' shape without the last axis, got " +
                                shape_to_string(targets.shape()) + " for logits " + shape_to_string(logits.shape()) +
                                ".");
  }
  check_float(logits, "cross_entropy", "logits");
  if (is_floating_point(targets.dtype()) || targets.dtype() == bool_) {
    throw std::invalid_argument("[cross_entropy] targets must be integers, got " + to_string(targets.dtype()) + ".");
  }
  return array(targets.shape(), float32, std::make_shared<CrossEntropy>(to_device(s, "cross_entropy")),
               {logits, astype(targets, int32)});
}

}  // namespace tessera::fast
