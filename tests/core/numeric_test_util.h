// Small helpers shared by the numeric op tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::testing {

// Deterministic values in [-1, 1).
inline std::vector<float> pseudo_random(size_t n, uint32_t seed = 1) {
  std::vector<float> v(n);
  uint32_t state = seed * 747796405u + 2891336453u;
  for (auto& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
  }
  return v;
}

// A float32 array from values and a shape.
inline array mat(const std::vector<float>& values, Shape shape) { return array(values, std::move(shape)); }

inline array random_array(const Shape& shape, uint32_t seed = 1, Dtype dtype = float32) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  return astype(array(pseudo_random(n, seed), shape, float32), dtype);
}

inline void expect_close(array a, const std::vector<float>& expected, float tol = 1e-5f) {
  std::vector<float> got = astype(a, float32).to_vector<float>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (std::isinf(expected[i])) {
      EXPECT_EQ(got[i], expected[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], expected[i], tol * std::max(1.0f, std::abs(expected[i]))) << "element " << i;
    }
  }
}

inline void expect_same(array a, array b, float tol = 1e-5f) {
  ASSERT_EQ(a.shape(), b.shape());
  expect_close(a, astype(b, float32).to_vector<float>(), tol);
}

// Runs fn and checks that it throws E with a message starting with prefix.
template <typename E, typename F>
void expect_error(F&& fn, const std::string& prefix) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception starting with " << prefix;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
  }
}

inline const std::vector<Dtype>& float_dtypes() {
  static const std::vector<Dtype> d{float32, bfloat16, float16};
  return d;
}

// Tolerance for values computed in a dtype (relative to magnitude).
inline float tol_for(Dtype d) { return d == float32 ? 1e-5f : (d == bfloat16 ? 2e-2f : 2e-3f); }

}  // namespace tessera::testing
