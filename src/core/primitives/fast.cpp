#include "core/primitives/fast.h"

#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

#include "backend/cpu/attention.h"
#include "backend/cpu/attention_quantized.h"
#include "backend/cpu/cross_entropy.h"
#include "backend/cpu/kernel_util.h"
#include "backend/cpu/layer_norm.h"
#include "backend/cpu/rms_norm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/swiglu.h"
#include "core/allocator.h"
#include "core/primitives/row_contiguous.h"
#include "core/utils.h"
#include "tessera/fast.h"
#include "tessera/ops.h"

namespace tessera::fast {

namespace {

void allocate(array& out) { out.set_data(allocator::malloc(out.nbytes())); }

int64_t rows_of(const array& x) { return x.shape().back() ? static_cast<int64_t>(x.size()) / x.shape().back() : 0; }

// Every axis but the last, over which parameter gradients are summed.
std::vector<int> leading_axes(const array& x) {
  std::vector<int> axes(x.ndim() - 1);
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

}  // namespace

void Swiglu::eval_cpu(const std::vector<array>& inputs, array& out) {
  allocate(out);
  if (out.size() == 0) return;
  RowContiguous gate(inputs[0]), x(inputs[1]);
  cpu::swiglu(out.dtype(), gate.data(), x.data(), out.data<void>(), static_cast<int64_t>(out.size()));
}

std::vector<array> Swiglu::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  const array g = astype(primals[0], float32), x = astype(primals[1], float32);
  const array c = astype(cotangents[0], float32);
  const array sig = sigmoid(g);
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      // d silu(g) / dg = sigmoid(g) (1 + g (1 - sigmoid(g)))
      const array dsilu = multiply(sig, add(array(1.0f), multiply(g, subtract(array(1.0f), sig))));
      grads.push_back(astype(multiply(multiply(c, x), dsilu), primals[0].dtype()));
    } else {
      grads.push_back(astype(multiply(c, multiply(g, sig)), primals[1].dtype()));
    }
  }
  return grads;
}

void RMSNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& x = inputs[0];
  allocate(out);
  if (x.size() == 0) return;
  RowContiguous xs(x);
  const std::vector<float> w = inputs.size() > 1 ? to_f32_vector(inputs[1]) : std::vector<float>{};
  cpu::rms_norm(x.dtype(), xs.data(), w.empty() ? nullptr : w.data(), eps_, rows_of(x), x.shape().back(),
                out.data<void>());
}

std::vector<array> RMSNorm::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>&) {
  const array& x = primals[0];
  const array xf = astype(x, float32);
  const array g = astype(cotangents[0], float32);
  const array r = rsqrt(add(mean(square(xf), -1, true), array(eps_)));
  const array n = multiply(xf, r);
  const bool has_w = primals.size() > 1;
  const array dn = has_w ? multiply(g, astype(primals[1], float32)) : g;
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      const array dx = multiply(r, subtract(dn, multiply(n, mean(multiply(dn, n), -1, true))));
      grads.push_back(astype(dx, x.dtype()));
    } else {
      grads.push_back(astype(sum(multiply(g, n), leading_axes(x)), primals[1].dtype()));
    }
  }
  return grads;
}

void LayerNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& x = inputs[0];
  allocate(out);
  if (x.size() == 0) return;
  RowContiguous xs(x);
  size_t next = 1;
  const std::vector<float> w = has_weight_ ? to_f32_vector(inputs[next++]) : std::vector<float>{};
  const std::vector<float> b = has_bias_ ? to_f32_vector(inputs[next++]) : std::vector<float>{};
  cpu::layer_norm(x.dtype(), xs.data(), w.empty() ? nullptr : w.data(), b.empty() ? nullptr : b.data(), eps_,
                  rows_of(x), x.shape().back(), out.data<void>());
}

std::vector<array> LayerNorm::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>& argnums, const std::vector<array>&) {
  const array& x = primals[0];
  const array xf = astype(x, float32);
  const array g = astype(cotangents[0], float32);
  const array xc = subtract(xf, mean(xf, -1, true));
  const array r = rsqrt(add(mean(square(xc), -1, true), array(eps_)));
  const array xhat = multiply(xc, r);
  const array dxhat = has_weight_ ? multiply(g, astype(primals[1], float32)) : g;
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      const array inner = subtract(subtract(dxhat, mean(dxhat, -1, true)),
                                   multiply(xhat, mean(multiply(dxhat, xhat), -1, true)));
      grads.push_back(astype(multiply(r, inner), x.dtype()));
    } else if (arg == 1 && has_weight_) {
      grads.push_back(astype(sum(multiply(g, xhat), leading_axes(x)), primals[1].dtype()));
    } else {
      grads.push_back(astype(sum(g, leading_axes(x)), primals[arg].dtype()));
    }
  }
  return grads;
}

void RoPE::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& x = inputs[0];
  allocate(out);
  if (x.size() == 0) return;
  size_t next = 1;
  std::vector<int64_t> offsets{p_.offset};
  if (p_.has_offset_array) {
    offsets.resize(inputs[next].size());
    detail::copy_out(inputs[next++], offsets.data(), int64);
  }
  const int64_t half = p_.dims / 2;
  std::vector<float> inv_freq(half);
  if (p_.has_freqs) {
    const std::vector<float> freqs = to_f32_vector(inputs[next++]);
    for (int64_t i = 0; i < half; ++i) inv_freq[i] = 1.0f / freqs[i];
  } else {
    for (int64_t i = 0; i < half; ++i) {
      inv_freq[i] = static_cast<float>(std::pow(static_cast<double>(*p_.base), -2.0 * i / p_.dims));
    }
  }
  const int64_t T = x.shape(-2), D = x.shape(-1);
  const int64_t rows = static_cast<int64_t>(x.size()) / D;
  // Rows with unit feature stride are read in place (heads of a transposed projection);
  // anything else is copied first.
  std::unique_ptr<RowContiguous> copy;
  const void* src = x.data<void>();
  std::vector<int64_t> row_offsets(rows);
  if (x.strides().back() == 1 || D == 1) {
    const Shape lead(x.shape().begin(), x.shape().end() - 1);
    const Strides lead_strides(x.strides().begin(), x.strides().end() - 1);
    cpu::StridedWalker w(lead, lead_strides);
    for (int64_t r = 0; r < rows; ++r, w.next()) row_offsets[r] = w.offset();
  } else {
    copy = std::make_unique<RowContiguous>(x);
    src = copy->data();
    for (int64_t r = 0; r < rows; ++r) row_offsets[r] = r * D;
  }
  cpu::rope(x.dtype(), src, row_offsets.data(), out.data<void>(), rows / T, T, D, p_.dims, p_.traditional,
            inv_freq.data(), p_.scale, offsets.data(),
            static_cast<int64_t>(offsets.size()));
}

std::vector<array> RoPE::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<array>&) {
  // A rotation's transpose is the rotation by the opposite angle.
  RopeParams back = p_;
  back.scale = -p_.scale;
  std::vector<array> inputs = primals;
  inputs[0] = cotangents[0];
  const array dx(cotangents[0].shape(), cotangents[0].dtype(), std::make_shared<RoPE>(device(), back), inputs);
  std::vector<array> grads;
  for (int arg : argnums) grads.push_back(arg == 0 ? dx : zeros_like(primals[arg]));
  return grads;
}

namespace {

cpu::AttentionOperand operand(const array& a, std::vector<std::unique_ptr<RowContiguous>>& keep) {
  cpu::AttentionOperand op;
  if (a.strides().back() == 1 || a.shape().back() <= 1) {
    op.data = a.data<void>();
    for (int d = 0; d < 4; ++d) op.strides[d] = a.strides()[d];
  } else {
    keep.push_back(std::make_unique<RowContiguous>(a));
    op.data = keep.back()->data();
    const Strides s = row_major_strides(a.shape());
    for (int d = 0; d < 4; ++d) op.strides[d] = s[d];
  }
  return op;
}

}  // namespace

void ScaledDotProductAttention::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array &q = inputs[0], &k = inputs[1], &v = inputs[2];
  allocate(out);
  if (out.size() == 0) return;
  std::vector<std::unique_ptr<RowContiguous>> keep;
  cpu::AttentionParams p;
  p.dtype = q.dtype();
  p.B = q.shape(0);
  p.Hq = q.shape(1);
  p.Tq = q.shape(2);
  p.D = q.shape(3);
  p.Hkv = k.shape(1);
  p.Tk = k.shape(2);
  p.Dv = v.shape(3);
  p.scale = scale_;
  p.causal = causal_;
  p.softcap = softcap_;
  cpu::AttentionOperand mask;
  if (has_mask_) {
    const array& m = inputs[3];
    p.mask_dtype = m.dtype();
    mask.data = m.data<void>();
    for (int d = 0; d < 4; ++d) mask.strides[d] = m.strides()[d];
  }
  cpu::attention(p, operand(q, keep), operand(k, keep), operand(v, keep), mask, out.data<void>());
}

std::vector<array> ScaledDotProductAttention::vjp(const std::vector<array>& primals,
                                                  const std::vector<array>& cotangents, const std::vector<int>& argnums,
                                                  const std::vector<array>&) {
  // Recomputes the probabilities op by op, in float32, with k/v heads shared by query groups:
  // q [B, Hkv, G, Tq, D] against k [B, Hkv, 1, Tk, D].
  const array& q = primals[0];
  const int64_t B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2), D = q.shape(3);
  const int64_t Hkv = primals[1].shape(1), Tk = primals[1].shape(2), Dv = primals[2].shape(3);
  const int64_t G = Hq / Hkv;
  const array qf = reshape(astype(q, float32), {B, Hkv, G, Tq, D});
  const array kf = expand_dims(astype(primals[1], float32), 2);
  const array vf = expand_dims(astype(primals[2], float32), 2);
  const array dout = reshape(astype(cotangents[0], float32), {B, Hkv, G, Tq, Dv});

  array s0 = multiply(matmul(qf, swapaxes(kf, -1, -2)), array(scale_));
  array s = s0;
  std::optional<array> tanh_s;
  if (softcap_) {
    tanh_s = tanh(divide(s0, array(*softcap_)));
    s = multiply(*tanh_s, array(*softcap_));
  }
  if (has_mask_) {
    const array m = reshape(primals[3], {B, Hkv, G, Tq, Tk});
    s = m.dtype() == bool_ ? where(m, s, array(-std::numeric_limits<float>::infinity())) : add(s, astype(m, float32));
  }
  if (causal_) {
    const array rows = reshape(arange(0, static_cast<int>(Tq), 1), {static_cast<int64_t>(Tq), 1});
    const array cols = reshape(arange(0, static_cast<int>(Tk), 1), {1, static_cast<int64_t>(Tk)});
    const array visible = less_equal(cols, add(rows, array(static_cast<int>(Tk - Tq))));
    s = where(visible, s, array(-std::numeric_limits<float>::infinity()));
  }
  // Rows that see no key are zeros in the forward pass (softmax alone would give NaN).
  const array p_raw = softmax(s, -1);
  const array p = where(isnan(p_raw), zeros_like(p_raw), p_raw);
  const array dp = matmul(dout, swapaxes(vf, -1, -2));
  const array ds = multiply(p, subtract(dp, sum(multiply(dp, p), -1, true)));
  array ds0 = ds;
  if (softcap_) ds0 = multiply(ds, subtract(array(1.0f), square(*tanh_s)));
  ds0 = multiply(ds0, array(scale_));

  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      grads.push_back(astype(reshape(matmul(ds0, kf), {B, Hq, Tq, D}), q.dtype()));
    } else if (arg == 1) {
      grads.push_back(astype(sum(matmul(swapaxes(ds0, -1, -2), qf), 2), primals[1].dtype()));
    } else if (arg == 2) {
      grads.push_back(astype(sum(matmul(swapaxes(p, -1, -2), dout), 2), primals[2].dtype()));
    } else {
      const array& m = primals[3];
      grads.push_back(m.dtype() == bool_ ? zeros_like(m) : astype(reshape(ds, m.shape()), m.dtype()));
    }
  }
  return grads;
}

void CrossEntropy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& logits = inputs[0];
  allocate(out);
  if (out.size() == 0 || logits.shape().back() == 0) return;
  RowContiguous x(logits), targets(inputs[1]);
  cpu::cross_entropy_rows(logits.dtype(), x.data(), static_cast<const int32_t*>(targets.data()), rows_of(logits),
                          logits.shape().back(), out.data<float>());
}

std::vector<array> CrossEntropy::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                     const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      const array g = astype(cotangents[0], float32);
      grads.push_back(array(primals[0].shape(), primals[0].dtype(),
                            std::make_shared<CrossEntropyGrad>(device()), {primals[0], primals[1], g}));
    } else {
      grads.push_back(zeros_like(primals[1]));  // integer targets have no gradient
    }
  }
  return grads;
}

void CrossEntropyGrad::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& logits = inputs[0];
  allocate(out);
  if (out.size() == 0) return;
  RowContiguous x(logits), targets(inputs[1]), g(inputs[2]);
  cpu::cross_entropy_grad_rows(logits.dtype(), x.data(), static_cast<const int32_t*>(targets.data()),
                               static_cast<const float*>(g.data()), rows_of(logits), logits.shape().back(),
                               out.data<void>());
}

// With s = softmax(x) and c the cotangent: d/dx = g * (s * c - s * sum(s * c)) (the softmax
// Jacobian is symmetric), d/dg = sum(c * (s - onehot)).
std::vector<array> CrossEntropyGrad::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                         const std::vector<int>& argnums, const std::vector<array>&) {
  const array& x = primals[0];
  const array& targets = primals[1];
  const array g = expand_dims(primals[2], -1);
  const array s = softmax(astype(x, float32), -1);
  const array c = astype(cotangents[0], float32);
  const array sc = multiply(s, c);
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      grads.push_back(astype(multiply(g, subtract(sc, multiply(s, sum(sc, -1, true)))), x.dtype()));
    } else if (arg == 1) {
      grads.push_back(zeros_like(targets));
    } else {
      const array picked = squeeze(take_along_axis(c, expand_dims(targets, -1), -1), {-1});
      grads.push_back(subtract(sum(sc, -1), picked));
    }
  }
  return grads;
}

bool QuantizeKV::is_equivalent(const Primitive& other) const {
  const auto* o = dynamic_cast<const QuantizeKV*>(&other);
  return o && o->bits_ == bits_ && o->group_size_ == group_size_;
}

void QuantizeKV::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const array& x = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  if (x.size() == 0) return;
  RowContiguous xs(x);
  const int64_t D = x.shape(-1);
  cpu::quantize_rows(static_cast<const float*>(xs.data()), static_cast<int64_t>(x.size()) / D, D, bits_, group_size_,
                     outputs[0].data<uint8_t>(), outputs[1].data<float>(), outputs[2].data<float>());
}

void QuantizedKVAttention::eval_cpu(const std::vector<array>& inputs, array& out) {
  allocate(out);
  if (out.size() == 0) return;
  const array& q = inputs[0];
  // Decoding runs this per layer and token: the views live on the stack.
  std::optional<RowContiguous> keep[8];
  size_t kept = 0;
  auto data = [&](const array& a) { return keep[kept++].emplace(a).data(); };
  auto rows = [&](int first) {
    const array& codes = inputs[first];
    return cpu::QuantizedRows{static_cast<const uint8_t*>(data(codes)), static_cast<const float*>(data(inputs[first + 1])),
                              static_cast<const float*>(data(inputs[first + 2])), codes.shape(2)};
  };
  cpu::QuantizedAttentionParams p;
  p.B = q.shape(0), p.Hq = q.shape(1), p.Tq = q.shape(2), p.D = q.shape(3);
  p.Hkv = inputs[1].shape(1), p.Tk = p_.length;
  p.bits = p_.bits, p.group_size = p_.group_size, p.scale = p_.scale;
  p.causal = p_.causal, p.softcap = p_.softcap, p.q_bfloat16 = p_.q_bfloat16;
  if (p_.has_mask) p.mask = static_cast<const bool*>(data(inputs[7]));
  const cpu::QuantizedRows keys = rows(1), values = rows(4);
  cpu::quantized_attention(p, static_cast<const float*>(data(q)), keys, values, out.data<float>());
}

}  // namespace tessera::fast
