// Checks a function's vector-Jacobian product against central finite differences in float32.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::testing {

// For every floating-point input, compares vjp(f) with a cotangent of fixed pseudo-random values
// against (g(x + eps e_j) - g(x - eps e_j)) / 2eps, where g(x) = <f(x), cotangent>. Non-float
// inputs (indices, masks) are held fixed. Mismatches are reported per input and element.
inline void check_vjp(const std::function<array(const std::vector<array>&)>& f, std::vector<array> inputs,
                      float eps = 1e-3f, float tol = 1e-2f) {
  array out = f(inputs);
  std::vector<float> cot(out.size());
  uint32_t state = 12345u;
  for (auto& c : cot) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  array cotangent = astype(array(cot, out.shape(), float32), out.dtype());
  auto [values, grads] =
      vjp([&](const std::vector<array>& xs) { return std::vector<array>{f(xs)}; }, inputs, {cotangent});
  auto project = [&](const std::vector<array>& xs) {
    std::vector<float> y = f(xs).to_vector<float>();
    double acc = 0;
    for (size_t k = 0; k < y.size(); ++k) acc += static_cast<double>(y[k]) * cot[k];
    return acc;
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!is_floating_point(inputs[i].dtype())) continue;
    ASSERT_EQ(grads[i].shape(), inputs[i].shape()) << "gradient shape of input " << i;
    std::vector<float> x = inputs[i].to_vector<float>();
    std::vector<float> analytic = grads[i].to_vector<float>();
    for (size_t j = 0; j < x.size(); ++j) {
      std::vector<array> shifted = inputs;
      std::vector<float> xp = x;
      xp[j] = x[j] + eps;
      shifted[i] = astype(array(xp, inputs[i].shape(), float32), inputs[i].dtype());
      double fp = project(shifted);
      xp[j] = x[j] - eps;
      shifted[i] = astype(array(xp, inputs[i].shape(), float32), inputs[i].dtype());
      double fm = project(shifted);
      double numeric = (fp - fm) / (2.0 * eps);
      EXPECT_NEAR(analytic[j], numeric, tol * std::max(1.0, std::abs(numeric)))
          << "input " << i << ", element " << j;
    }
  }
}

}  // namespace tessera::testing
