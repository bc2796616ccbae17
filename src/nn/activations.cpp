#include "tessera/nn/activations.h"

#include "tessera/fast.h"
#include "tessera/ops.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace tessera::nn {

array silu(const array& x) { return multiply(x, sigmoid(x)); }

array gelu(const array& x) {
  const float inv_sqrt2 = static_cast<float>(1.0 / std::numbers::sqrt2);
  return multiply(multiply(x, array(0.5f)), add(erf(multiply(x, array(inv_sqrt2))), array(1.0f)));
}

array gelu_approx(const array& x) {
  const bool half = x.dtype() == bfloat16 || x.dtype() == float16;
  const array xf = half ? astype(x, float32) : x;
  const float k = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));
  array inner = multiply(add(xf, multiply(array(0.044715f), multiply(xf, square(xf)))), array(k));
  array y = multiply(multiply(xf, array(0.5f)), add(tanh(inner), array(1.0f)));
  return half ? astype(y, x.dtype()) : y;
}

array relu(const array& x) { return maximum(x, array(0.0f)); }

std::function<array(const array&)> activation_from_name(const std::string& name) {
  if (name == "silu" || name == "swish") {
    return silu;
  }
  if (name == "gelu") {
    return gelu;
  }
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") {
    return gelu_approx;
  }
  if (name == "relu") {
    return relu;
  }
  throw std::invalid_argument("unsupported activation '" + name +
                              "' (supported: silu, swish, gelu, gelu_pytorch_tanh, gelu_new, gelu_fast, relu)");
}

std::function<array(const array&, const array&)> gated_activation_from_name(const std::string& name) {
  if (name == "silu" || name == "swish") {
    return [](const array& gate, const array& x) { return fast::swiglu(gate, x); };
  }
  return [act = activation_from_name(name)](const array& gate, const array& x) { return multiply(act(gate), x); };
}

}  // namespace tessera::nn
