// Activation functions, built from core ops (they differentiate through them).
#pragma once

#include "tessera/array.h"

#include <functional>
#include <string>

namespace tessera::nn {

// x * sigmoid(x)
array silu(const array& x);
// 0.5 x (1 + erf(x / sqrt(2)))
array gelu(const array& x);
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): PyTorch's gelu(approximate="tanh"),
// the `gelu_pytorch_tanh` of Hugging Face configs. Half-precision inputs are computed in
// float32 and rounded once, as PyTorch does.
array gelu_approx(const array& x);
array relu(const array& x);

// The activation a Hugging Face config names in `hidden_act` / `hidden_activation`
// ("silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "relu").
// Throws std::invalid_argument listing the known names for any other.
std::function<array(const array&)> activation_from_name(const std::string& name);

// act(gate) * x for the activation of that name: one fused pass (fast::swiglu) for silu.
std::function<array(const array&, const array&)> gated_activation_from_name(const std::string& name);

}  // namespace tessera::nn
