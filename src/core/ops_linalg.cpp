// Matrix products.
#include "core/primitives/linalg.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

std::string mismatch_message(const array& a, const array& b) {
  return "[matmul] Last dimension of first input with shape " + shape_to_string(a.shape()) +
         " must match second to last dimension of second input with shape " + shape_to_string(b.shape()) + ".";
}

}  // namespace

array matmul(const array& a_in, const array& b_in, StreamOrDevice s) {
  if (a_in.ndim() == 0 || b_in.ndim() == 0) {
    throw std::invalid_argument("[matmul] Got 0-dimension input. Inputs must have at least one dimension.");
  }
  if (!is_floating_point(a_in.dtype()) || !is_floating_point(b_in.dtype())) {
    throw std::invalid_argument("[matmul] Only floating-point inputs are supported, got " + to_string(a_in.dtype()) +
                                " and " + to_string(b_in.dtype()) + ".");
  }
  const bool a_vec = a_in.ndim() == 1, b_vec = b_in.ndim() == 1;
  array a = a_vec ? reshape(a_in, {1, a_in.shape(0)}, s) : a_in;
  array b = b_vec ? reshape(b_in, {b_in.shape(0), 1}, s) : b_in;
  if (a.shape(-1) != b.shape(-2)) throw std::invalid_argument(mismatch_message(a_in, b_in));
  const Dtype dtype = promote_types(a.dtype(), b.dtype());
  a = astype(a, dtype, s);
  b = astype(b, dtype, s);

  Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(a_batch, b_batch);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("[matmul] Batch dimensions of the inputs with shapes " + shape_to_string(a_in.shape()) +
                                " and " + shape_to_string(b_in.shape()) + " do not broadcast.");
  }
  Shape a_shape = batch, b_shape = batch, out_shape = batch;
  a_shape.insert(a_shape.end(), {a.shape(-2), a.shape(-1)});
  b_shape.insert(b_shape.end(), {b.shape(-2), b.shape(-1)});
  out_shape.insert(out_shape.end(), {a.shape(-2), b.shape(-1)});
  if (a.shape() != a_shape) a = broadcast_to(a, a_shape, s);
  if (b.shape() != b_shape) b = broadcast_to(b, b_shape, s);
  array out(out_shape, dtype, std::make_shared<Matmul>(to_device(s, "matmul")), {a, b});

  if (a_vec) out = squeeze(out, -2, s);
  if (b_vec) out = squeeze(out, -1, s);
  return out;
}

array addmm(const array& c, const array& a, const array& b, float alpha, float beta, StreamOrDevice s) {
  array product = matmul(a, b, s);
  if (alpha != 1.0f) product = multiply(product, array(alpha), s);
  if (beta == 0.0f) return product;
  return add(beta == 1.0f ? c : multiply(c, array(beta), s), product, s);
}

array outer(const array& a, const array& b, StreamOrDevice s) {
  return multiply(reshape(a, {-1, 1}, s), reshape(b, {1, -1}, s), s);
}

}  // namespace tessera
