#include "core/primitives/quantized.h"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cpu/quantized.h"
#include "backend/cpu/quantized_decode.h"
#include "core/allocator.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera {

namespace {

// a's elements in row-major order: a's own buffer when it is row-contiguous, else a copy.
const void* row_major(const array& a, std::vector<char>& scratch) {
  if (a.flags().row_contiguous) return a.data<void>();
  scratch.resize(a.nbytes());
  detail::copy_out(a, scratch.data(), a.dtype());
  return scratch.data();
}

// Calls f(T{}) for the float type T of the quantization parameters.
template <typename F>
void dispatch_float(Dtype d, const F& f) {
  if (d == bfloat16) return f(bfloat16_t{});
  if (d == float16) return f(float16_t{});
  return f(float{});
}

cpu::ScaleType scale_type(Dtype d) {
  if (d == bfloat16) return cpu::ScaleType::bfloat16;
  if (d == float16) return cpu::ScaleType::float16;
  return cpu::ScaleType::float32;
}

// Buffers of a packed matrix kept alive (and contiguous) for the duration of a kernel.
struct PackedOperand {
  std::vector<char> w_copy, s_copy, b_copy;
  cpu::QuantizedMatrix matrix;

  PackedOperand(const array& w, const array& scales, const array& biases, int group_size, int bits) {
    const int64_t cols = w.shape(-1) * 32 / bits;
    matrix = {static_cast<const uint32_t*>(row_major(w, w_copy)),
              row_major(scales, s_copy),
              row_major(biases, b_copy),
              scale_type(scales.dtype()),
              static_cast<int64_t>(w.size()) / std::max<int64_t>(w.shape(-1), 1),
              cols,
              group_size,
              bits};
  }
};

// Memory holding decode layouts: one matrix's, or all of those prepared together.
class LayoutMemory {
 public:
  explicit LayoutMemory(size_t bytes) : buffer_(allocator::malloc(bytes)) {}
  ~LayoutMemory() { allocator::free(buffer_); }
  LayoutMemory(const LayoutMemory&) = delete;
  LayoutMemory& operator=(const LayoutMemory&) = delete;

  std::byte* at(size_t offset) const { return static_cast<std::byte*>(buffer_.raw_ptr()) + offset; }

 private:
  allocator::Buffer buffer_;
};

// The decode layout of a packed matrix (backend/cpu/quantized_decode.h), kept with the packed
// words' buffer. It holds copies of the scales and biases too, so it records which ones (and the
// shape it was made for) and is remade for others.
class DecodeLayout {
 public:
  DecodeLayout(const array& scales, const array& biases, const cpu::QuantizedMatrix& m,
               std::shared_ptr<LayoutMemory> memory, size_t offset)
      : memory_(std::move(memory)),
        bytes_(memory_->at(offset)),
        scales_(scales.data_shared_ptr()),
        biases_(biases.data_shared_ptr()),
        scales_ptr_(scales.data<void>()),
        biases_ptr_(biases.data<void>()),
        shape_(m) {
    cpu::qdecode::write_layout(m, bytes_);
  }

  std::byte* bytes() const { return bytes_; }

  bool made_from(const array& scales, const array& biases, const cpu::QuantizedMatrix& m) const {
    return scales_.lock() == scales.data_shared_ptr() && biases_.lock() == biases.data_shared_ptr() &&
           scales_ptr_ == scales.data<void>() && biases_ptr_ == biases.data<void>() && shape_.rows == m.rows &&
           shape_.cols == m.cols && shape_.group_size == m.group_size && shape_.bits == m.bits &&
           shape_.scale_type == m.scale_type;
  }

 private:
  std::shared_ptr<LayoutMemory> memory_;
  std::byte* bytes_;
  std::weak_ptr<array::Data> scales_, biases_;
  const void* scales_ptr_;
  const void* biases_ptr_;
  cpu::QuantizedMatrix shape_;
};

// Whether w can hold a decode layout: the CPU and w's shape take one, and w is its whole buffer
// (a view's slot would belong to the whole buffer).
bool takes_layout(const array& w, const array& scales, const array& biases, const cpu::QuantizedMatrix& m) {
  const bool contiguous = w.flags().row_contiguous && scales.flags().row_contiguous && biases.flags().row_contiguous;
  const auto& data = w.data_shared_ptr();
  return cpu::qdecode::supports(m) && contiguous && data && data->buffer.raw_ptr() == w.data<void>();
}

// w's current decode layout, or null.
std::shared_ptr<DecodeLayout> current_layout(const array& w, const array& scales, const array& biases,
                                             const cpu::QuantizedMatrix& m) {
  auto layout = std::static_pointer_cast<DecodeLayout>(w.data_shared_ptr()->derived);
  return layout && layout->made_from(scales, biases, m) ? layout : nullptr;
}

// w's decode layout, made on first use; null where the layout does not apply (takes_layout).
const std::byte* decode_layout(const array& w, const array& scales, const array& biases,
                               const cpu::QuantizedMatrix& m) {
  if (!takes_layout(w, scales, biases, m)) return nullptr;
  const auto& data = w.data_shared_ptr();
  std::lock_guard lock(data->derived_mutex);
  auto layout = current_layout(w, scales, biases, m);
  if (!layout) {
    data->derived.reset();
    const size_t bytes = cpu::qdecode::layout_bytes(m);
    layout = std::make_shared<DecodeLayout>(scales, biases, m, std::make_shared<LayoutMemory>(bytes), 0);
    data->derived = layout;
  }
  return layout->bytes();
}

}  // namespace

void prepare_decode_layouts(const std::vector<PackedMatrix>& matrices) {
  struct Pending {
    const PackedMatrix* packed;
    PackedOperand operand;
    size_t offset;
  };
  std::vector<Pending> pending;
  size_t total = 0;
  for (const auto& p : matrices) {
    PackedOperand operand(p.w, p.scales, p.biases, p.group_size, p.bits);
    if (!takes_layout(p.w, p.scales, p.biases, operand.matrix)) continue;
    std::lock_guard lock(p.w.data_shared_ptr()->derived_mutex);
    if (current_layout(p.w, p.scales, p.biases, operand.matrix)) continue;
    const size_t bytes = (cpu::qdecode::layout_bytes(operand.matrix) + 63) / 64 * 64;
    pending.push_back({&p, std::move(operand), total});
    total += bytes;
  }
  if (pending.empty()) return;
  auto memory = std::make_shared<LayoutMemory>(total);
  for (auto& p : pending) {
    const auto& data = p.packed->w.data_shared_ptr();
    std::lock_guard lock(data->derived_mutex);
    data->derived.reset();
    data->derived = std::make_shared<DecodeLayout>(p.packed->scales, p.packed->biases, p.operand.matrix, memory, p.offset);
  }
}

bool Quantize::is_equivalent(const Primitive& other) const {
  const auto* o = dynamic_cast<const Quantize*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_;
}

void Quantize::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const array& w = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  if (w.size() == 0) return;
  std::vector<char> scratch;
  const void* src = row_major(w, scratch);
  const int64_t cols = w.shape(-1);
  const int64_t rows = static_cast<int64_t>(w.size()) / cols;
  dispatch_float(w.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::affine_quantize<T>(static_cast<const T*>(src), rows, cols, group_size_, bits_, outputs[0].data<uint32_t>(),
                            outputs[1].data<T>(), outputs[2].data<T>());
  });
}

bool Dequantize::is_equivalent(const Primitive& other) const {
  const auto* o = dynamic_cast<const Dequantize*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_;
}

void Dequantize::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  PackedOperand w(inputs[0], inputs[1], inputs[2], group_size_, bits_);
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto& m = w.matrix;
    cpu::affine_dequantize<T>(m.packed, static_cast<const T*>(m.scales), static_cast<const T*>(m.biases), m.rows,
                              m.cols, group_size_, bits_, out.data<T>());
  });
}

bool QuantizedMatmul::is_equivalent(const Primitive& other) const {
  const auto* o = dynamic_cast<const QuantizedMatmul*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_ && o->transpose_ == transpose_ &&
         o->int8_activations_ == int8_activations_;
}

namespace {

cpu::qdecode::XForm decode_form(const array& x, bool int8_activations) {
  if (int8_activations) return cpu::qdecode::XForm::int8;
  return x.dtype() == bfloat16 ? cpu::qdecode::XForm::bf16 : cpu::qdecode::XForm::float32;
}

// x as a float32 row-major buffer: x's own where it is one, else `copy` filled.
const float* float_rows(const array& x, std::vector<float>& copy) {
  if (x.dtype() == float32 && x.flags().row_contiguous) return x.data<float>();
  if (copy.size() < x.size()) copy.resize(x.size());
  detail::copy_out(x, copy.data(), float32);
  return copy.data();
}

// x as the decode layout's forms take it: bfloat16 as it is for the int8 form, else float32.
cpu::qdecode::Input decode_input(const array& x, cpu::qdecode::XForm form, std::vector<float>& copy) {
  if (form == cpu::qdecode::XForm::int8 && x.dtype() == bfloat16 && x.flags().row_contiguous) {
    return cpu::qdecode::Input::bfloat16(x.data<uint16_t>());
  }
  return float_rows(x, copy);
}

// Where a product's float32 results go for `out`: out itself, or `scratch` (then written to out
// in bfloat16 by the kernel, or converted by finish_output).
struct ProductOutput {
  float* y;
  uint16_t* y_bf16 = nullptr;

  ProductOutput(array& out, float* scratch)
      : y(out.dtype() == float32 ? out.data<float>() : scratch),
        y_bf16(out.dtype() == bfloat16 ? static_cast<uint16_t*>(out.data<void>()) : nullptr) {}
};

void finish_output(const ProductOutput& o, array& out) {
  if (!o.y_bf16 && out.dtype() != float32) detail::convert_elements(o.y, float32, out.data<void>(), out.dtype(), out.size());
}

// Float32 copies of x and y, kept per thread: decoding calls the products a hundred times per
// token, and fresh heap blocks each time cost more than the copies.
std::vector<float>& x_scratch() {
  thread_local std::vector<float> copy;
  return copy;
}

float* y_scratch(size_t size) {
  thread_local std::vector<float> copy;
  if (copy.size() < size) copy.resize(size);
  return copy.data();
}

int64_t rows_of_x(const array& x) {
  const int64_t K = x.shape(-1);
  return K == 0 ? 0 : static_cast<int64_t>(x.size()) / K;
}

// One product of QuantizedMatmul (inputs x, packed, scales, biases) into out, allocated.
void eval_product(const std::vector<array>& inputs, int group_size, int bits, bool transpose, bool int8_activations,
                  array& out) {
  const array& x = inputs[0];
  const int64_t M = rows_of_x(x);
  PackedOperand w(inputs[1], inputs[2], inputs[3], group_size, bits);
  const auto form = decode_form(x, int8_activations);
  const bool decode = transpose && M >= 1 && M <= cpu::qdecode::max_rows(w.matrix, form);
  const std::byte* layout = decode ? decode_layout(inputs[1], inputs[2], inputs[3], w.matrix) : nullptr;
  float* y = out.dtype() == float32 ? out.data<float>() : y_scratch(out.size());
  if (layout) {
    const ProductOutput o(out, y);
    cpu::qdecode::gemv(decode_input(x, form, x_scratch()), M, w.matrix, layout, o.y, form, o.y_bf16);
    return finish_output(o, out);
  }
  const float* xf = float_rows(x, x_scratch());
  const cpu::InputType type = x.dtype() == bfloat16  ? cpu::InputType::bfloat16
                              : x.dtype() == float16 ? cpu::InputType::float16
                                                     : cpu::InputType::float32;
  if (transpose) {
    cpu::quantized_matmul_t(xf, M, w.matrix, y, type);
  } else {
    cpu::quantized_matmul_n(xf, M, w.matrix, y, type);
  }
  if (M == 0) std::fill(y, y + out.size(), 0.0f);
  if (out.dtype() != float32) detail::convert_elements(y, float32, out.data<void>(), out.dtype(), out.size());
}

}  // namespace

void QuantizedMatmul::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  eval_product(inputs, group_size_, bits_, transpose_, int8_activations_, out);
}

// With W the dequantized matrix, y = x W^T (or x W): dx = g W (or g W^T). The gradient of W
// itself, G = g^T x (or x^T g), gives the scales' gradient sum_group(G * q) and the biases'
// sum_group(G). The packed integers have no gradient (zero).
std::vector<array> QuantizedMatmul::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                        const std::vector<int>& argnums, const std::vector<array>&) {
  const array& x = primals[0];
  const array& w = primals[1];
  const array& scales = primals[2];
  const array& g = cotangents[0];
  std::vector<array> grads;
  auto weight_grad = [&] {
    array x2 = astype(reshape(x, {-1, x.shape(-1)}), float32);
    array g2 = astype(reshape(g, {-1, g.shape(-1)}), float32);
    return transpose_ ? matmul(transpose(g2), x2) : matmul(transpose(x2), g2);
  };
  auto grouped_sum = [&](const array& a) {
    return sum(reshape(a, {a.shape(0), a.shape(1) / group_size_, group_size_}), -1);
  };
  for (int arg : argnums) {
    if (arg == 0) {
      array dx = quantized_matmul(g, w, scales, primals[3], !transpose_, group_size_, bits_, false, device());
      grads.push_back(astype(dx, x.dtype()));
    } else if (arg == 1) {
      grads.push_back(zeros_like(w));
    } else {
      array gw = weight_grad();
      if (arg == 2) {
        array q = dequantize(w, ones(scales.shape(), float32), zeros(scales.shape(), float32), group_size_, bits_);
        gw = multiply(gw, q);
      }
      grads.push_back(astype(grouped_sum(gw), scales.dtype()));
    }
  }
  return grads;
}

bool QuantizedMatmuls::is_equivalent(const Primitive& other) const {
  const auto* o = dynamic_cast<const QuantizedMatmuls*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_ && o->int8_activations_ == int8_activations_;
}

// Where every matrix takes its decode layout for these rows and they share a geometry, one
// gemv_many over all; otherwise each product on its own.
void QuantizedMatmuls::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  const array& x = inputs[0];
  const int64_t M = rows_of_x(x);
  const auto form = decode_form(x, int8_activations_);
  const size_t count = outputs.size();
  std::vector<PackedOperand> ws;
  ws.reserve(count);
  std::vector<cpu::qdecode::Target> targets;
  size_t scratch = 0;
  for (size_t i = 0; i < count; ++i) {
    const array &w = inputs[1 + 3 * i], &scales = inputs[2 + 3 * i], &biases = inputs[3 + 3 * i];
    ws.emplace_back(w, scales, biases, group_size_, bits_);
    const cpu::QuantizedMatrix& m = ws.back().matrix;
    const bool decode = M >= 1 && M <= cpu::qdecode::max_rows(m, form) &&
                        (i == 0 || cpu::qdecode::same_geometry(ws[0].matrix, m));
    const std::byte* layout = decode ? decode_layout(w, scales, biases, m) : nullptr;
    if (!layout) break;
    targets.push_back({&m, layout, nullptr, nullptr});
    if (outputs[i].dtype() != float32) scratch += outputs[i].size();
  }
  if (targets.size() < count) {
    for (size_t i = 0; i < count; ++i) {
      if (outputs[i].size() == 0) continue;
      eval_product({x, inputs[1 + 3 * i], inputs[2 + 3 * i], inputs[3 + 3 * i]}, group_size_, bits_, true,
                   int8_activations_, outputs[i]);
    }
    return;
  }
  float* y = y_scratch(scratch);
  std::vector<ProductOutput> results;
  for (size_t i = 0; i < count; ++i) {
    results.emplace_back(outputs[i], y);
    if (outputs[i].dtype() != float32) y += outputs[i].size();
    targets[i].y = results[i].y;
    targets[i].y_bf16 = results[i].y_bf16;
  }
  cpu::qdecode::gemv_many(decode_input(x, form, x_scratch()), M, targets.data(), static_cast<int64_t>(count), form);
  for (size_t i = 0; i < count; ++i) finish_output(results[i], outputs[i]);
}

// Each output's cotangent flows back through its own product, as QuantizedMatmul's; x gets the sum.
std::vector<array> QuantizedMatmuls::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                         const std::vector<int>& argnums, const std::vector<array>&) {
  QuantizedMatmul product(device(), group_size_, bits_, true, int8_activations_);
  std::vector<array> grads;
  for (int arg : argnums) {
    if (arg == 0) {
      std::optional<array> dx;
      for (size_t i = 0; i < cotangents.size(); ++i) {
        const array term = product.vjp({primals[0], primals[1 + 3 * i], primals[2 + 3 * i], primals[3 + 3 * i]},
                                       {cotangents[i]}, {0}, {})[0];
        dx = dx ? add(*dx, term) : term;
      }
      grads.push_back(astype(*dx, primals[0].dtype()));
    } else {
      const size_t i = static_cast<size_t>(arg - 1) / 3;
      const int which = (arg - 1) % 3 + 1;
      grads.push_back(product.vjp({primals[0], primals[1 + 3 * i], primals[2 + 3 * i], primals[3 + 3 * i]},
                                  {cotangents[i]}, {which}, {})[0]);
    }
  }
  return grads;
}

bool QuantizedTake::is_equivalent(const Primitive& other) const {
  const auto* o = dynamic_cast<const QuantizedTake*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_;
}

void QuantizedTake::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  const array& indices = inputs[3];
  std::vector<int64_t> idx(indices.size());
  if (!idx.empty()) detail::copy_out(indices, idx.data(), int64);
  PackedOperand w(inputs[0], inputs[1], inputs[2], group_size_, bits_);
  const auto& m = w.matrix;
  for (int64_t i : idx) {
    if (i < -m.rows || i >= m.rows) {
      throw std::out_of_range("[quantized_take] Index " + std::to_string(i) + " is out of range for " +
                              std::to_string(m.rows) + " rows.");
    }
  }
  const int64_t words = m.words_per_row();
  const int64_t groups = m.groups_per_row();
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto* scales = static_cast<const T*>(m.scales);
    const auto* biases = static_cast<const T*>(m.biases);
    T* dst = out.data<T>();
    for (size_t j = 0; j < idx.size(); ++j) {
      const int64_t r = idx[j] < 0 ? idx[j] + m.rows : idx[j];
      cpu::affine_dequantize<T>(m.packed + r * words, scales + r * groups, biases + r * groups, 1, m.cols,
                                group_size_, bits_, dst + j * m.cols);
    }
  });
}

}  // namespace tessera
