// Affine quantization ops: validation, shapes and dtypes; the work is in primitives/quantized.
#include <stdexcept>
#include <string>

#include "core/primitives/quantized.h"
#include "core/utils.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"

namespace tessera {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

void check_bits_and_group(const char* op, int group_size, int bits) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8) {
    throw std::invalid_argument(std::string("[") + op + "] bits must be one of 2, 3, 4, 5, 6 or 8, got " +
                                str(bits) + ".");
  }
  if (group_size != 32 && group_size != 64 && group_size != 128) {
    throw std::invalid_argument(std::string("[") + op + "] group_size must be 32, 64 or 128, got " +
                                str(group_size) + ".");
  }
}

// Checks a packed matrix and its parameters; returns the unpacked number of columns.
int64_t check_packed(const char* op, const array& w, const array& scales, const array& biases, int group_size,
                     int bits) {
  check_bits_and_group(op, group_size, bits);
  const std::string prefix = std::string("[") + op + "] ";
  if (w.dtype() != uint32) {
    throw std::invalid_argument(prefix + "The packed weight must be uint32, got " + to_string(w.dtype()) + ".");
  }
  if (w.ndim() < 2) {
    throw std::invalid_argument(prefix + "The packed weight must have at least 2 dimensions, got shape " +
                                shape_to_string(w.shape()) + ".");
  }
  if (!is_floating_point(scales.dtype()) || scales.dtype() != biases.dtype()) {
    throw std::invalid_argument(prefix + "scales and biases must share one floating-point dtype, got " +
                                to_string(scales.dtype()) + " and " + to_string(biases.dtype()) + ".");
  }
  if ((w.shape(-1) * 32) % bits != 0) {
    throw std::invalid_argument(prefix + "A packed row of " + str(w.shape(-1)) + " words does not hold a whole number of " +
                                str(bits) + "-bit elements.");
  }
  const int64_t cols = w.shape(-1) * 32 / bits;
  Shape expected = w.shape();
  expected.back() = cols / group_size;
  if (cols % group_size != 0 || scales.shape() != expected || biases.shape() != expected) {
    throw std::invalid_argument(prefix + "For a packed weight of shape " + shape_to_string(w.shape()) + " (" +
                                str(cols) + " columns at " + str(bits) + " bits) with group size " +
                                str(group_size) + ", scales and biases must have shape " +
                                shape_to_string(expected) + ", got " + shape_to_string(scales.shape()) + " and " +
                                shape_to_string(biases.shape()) + ".");
  }
  return cols;
}

}  // namespace

std::tuple<array, array, array> quantize(const array& w, int group_size, int bits, StreamOrDevice s) {
  check_bits_and_group("quantize", group_size, bits);
  if (w.dtype() != float32 && w.dtype() != bfloat16 && w.dtype() != float16) {
    throw std::invalid_argument("[quantize] Only float32, bfloat16 and float16 matrices can be quantized, got " +
                                to_string(w.dtype()) + ".");
  }
  if (w.ndim() < 2) {
    throw std::invalid_argument("[quantize] The matrix to quantize must have at least 2 dimensions, got shape " +
                                shape_to_string(w.shape()) + ".");
  }
  if (w.shape(-1) % group_size != 0) {
    throw std::invalid_argument("[quantize] The last dimension of the matrix (" + str(w.shape(-1)) +
                                ") must be divisible by the group size (" + str(group_size) + ").");
  }
  Shape packed = w.shape();
  packed.back() = w.shape(-1) * bits / 32;
  Shape params = w.shape();
  params.back() = w.shape(-1) / group_size;
  auto outputs = array::make_arrays({packed, params, params}, {uint32, w.dtype(), w.dtype()},
                                    std::make_shared<Quantize>(to_device(s, "quantize"), group_size, bits), {w});
  return {outputs[0], outputs[1], outputs[2]};
}

array dequantize(const array& w, const array& scales, const array& biases, int group_size, int bits,
                 StreamOrDevice s) {
  const int64_t cols = check_packed("dequantize", w, scales, biases, group_size, bits);
  Shape shape = w.shape();
  shape.back() = cols;
  return array(shape, scales.dtype(), std::make_shared<Dequantize>(to_device(s, "dequantize"), group_size, bits),
               {w, scales, biases});
}

namespace {

// The shape of x times the packed matrix (x · W^T with `transpose`), every argument checked; `op`
// names the op in the errors.
Shape product_shape(const char* op, const array& x, const array& w, const array& scales, const array& biases,
                    bool transpose, int group_size, int bits) {
  const std::string at = std::string("[") + op + "] ";
  const int64_t cols = check_packed(op, w, scales, biases, group_size, bits);
  if (w.ndim() != 2) {
    throw std::invalid_argument(at + "The packed weight must be 2-D, got shape " + shape_to_string(w.shape()) + ".");
  }
  if (x.ndim() == 0 || !is_floating_point(x.dtype())) {
    throw std::invalid_argument(at + "x must be a floating-point array with at least 1 dimension, got " +
                                to_string(x.dtype()) + " of shape " + shape_to_string(x.shape()) + ".");
  }
  const int64_t K = transpose ? cols : w.shape(0);
  if (x.shape(-1) != K) {
    throw std::invalid_argument(at + "The last dimension of x (" + str(x.shape(-1)) + ") must match the " +
                                (transpose ? "columns" : "rows") + " of the quantized matrix (" + str(K) +
                                "); x has shape " + shape_to_string(x.shape()) + ", the matrix " + str(w.shape(0)) +
                                "x" + str(cols) + ".");
  }
  Shape shape = x.shape();
  shape.back() = transpose ? w.shape(0) : cols;
  return shape;
}

}  // namespace

array quantized_matmul(const array& x, const array& w, const array& scales, const array& biases, bool transpose,
                       int group_size, int bits, bool int8_activations, StreamOrDevice s) {
  const Shape shape = product_shape("quantized_matmul", x, w, scales, biases, transpose, group_size, bits);
  return array(shape, promote_types(x.dtype(), scales.dtype()),
               std::make_shared<QuantizedMatmul>(to_device(s, "quantized_matmul"), group_size, bits, transpose,
                                                 int8_activations),
               {x, w, scales, biases});
}

std::vector<array> quantized_matmuls(const array& x, const std::vector<PackedMatrix>& matrices, bool int8_activations,
                                     StreamOrDevice s) {
  if (matrices.empty()) throw std::invalid_argument("[quantized_matmuls] No matrices given.");
  const PackedMatrix& first = matrices[0];
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  std::vector<array> inputs{x};
  for (size_t i = 0; i < matrices.size(); ++i) {
    const PackedMatrix& m = matrices[i];
    if (m.group_size != first.group_size || m.bits != first.bits) {
      throw std::invalid_argument("[quantized_matmuls] Matrix " + str(static_cast<int64_t>(i)) + " is quantized with " +
                                  str(m.bits) + " bits in groups of " + str(m.group_size) + ", matrix 0 with " +
                                  str(first.bits) + " in groups of " + str(first.group_size) + ".");
    }
    shapes.push_back(product_shape("quantized_matmuls", x, m.w, m.scales, m.biases, true, m.group_size, m.bits));
    dtypes.push_back(promote_types(x.dtype(), m.scales.dtype()));
    inputs.insert(inputs.end(), {m.w, m.scales, m.biases});
  }
  return array::make_arrays(std::move(shapes), dtypes,
                            std::make_shared<QuantizedMatmuls>(to_device(s, "quantized_matmuls"), first.group_size,
                                                               first.bits, int8_activations),
                            inputs);
}

void prepare_quantized_matmul(const array& w, const array& scales, const array& biases, int group_size, int bits) {
  prepare_quantized_matmul(std::vector<PackedMatrix>{{w, scales, biases, group_size, bits}});
}

void prepare_quantized_matmul(const std::vector<PackedMatrix>& matrices) {
  for (const auto& m : matrices) {
    check_packed("prepare_quantized_matmul", m.w, m.scales, m.biases, m.group_size, m.bits);
    if (m.w.ndim() != 2) {
      throw std::invalid_argument("[prepare_quantized_matmul] The packed weight must be 2-D, got shape " +
                                  shape_to_string(m.w.shape()) + ".");
    }
    eval(m.w, m.scales, m.biases);
  }
  prepare_decode_layouts(matrices);
}

array quantized_take(const array& w, const array& scales, const array& biases, const array& indices, int group_size,
                     int bits, StreamOrDevice s) {
  const int64_t cols = check_packed("quantized_take", w, scales, biases, group_size, bits);
  if (w.ndim() != 2) {
    throw std::invalid_argument("[quantized_take] The packed weight must be 2-D, got shape " +
                                shape_to_string(w.shape()) + ".");
  }
  if (!is_integral(indices.dtype())) {
    throw std::invalid_argument("[quantized_take] Indices must be integers, got " + to_string(indices.dtype()) + ".");
  }
  Shape shape = indices.shape();
  shape.push_back(cols);
  return array(shape, scales.dtype(),
               std::make_shared<QuantizedTake>(to_device(s, "quantized_take"), group_size, bits),
               {w, scales, biases, indices});
}

}  // namespace tessera
