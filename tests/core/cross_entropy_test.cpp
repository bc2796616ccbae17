// fast::cross_entropy against logsumexp - take_along_axis, its one-pass gradient against the
// gradient of that formula, the gradient's own VJP by finite differences, and its memory.
#include <gtest/gtest.h>

#include <stdexcept>

#include "gradcheck.h"
#include "numeric_test_util.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using testing::check_vjp;
using testing::expect_error;
using testing::expect_same;
using testing::random_array;

array reference(const array& logits, const array& targets) {
  const array x = astype(logits, float32);
  return subtract(logsumexp(x, -1), squeeze(take_along_axis(x, expand_dims(targets, -1), -1), {-1}));
}

// Targets 0, 3, 6, ... wrapped into [0, classes).
array some_targets(const Shape& shape, int classes) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  std::vector<int> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = static_cast<int>((3 * i + 1) % static_cast<size_t>(classes));
  return array(t, shape, int32);
}

TEST(CrossEntropy, MatchesLogsumexpMinusTarget) {
  for (Dtype dtype : {float32, bfloat16, float16}) {
    // Scaled so that the rows are far from uniform.
    const array logits = multiply(random_array({3, 5, 37}, 1, dtype), array(4.0f, dtype));
    const array targets = some_targets({3, 5}, 37);
    const array loss = fast::cross_entropy(logits, targets);
    EXPECT_EQ(loss.dtype(), float32);
    expect_same(loss, reference(logits, targets), 1e-5f);
  }
}

TEST(CrossEntropy, GradientEqualsThatOfTheFormula) {
  for (Dtype dtype : {float32, bfloat16}) {
    const array logits = multiply(random_array({4, 6, 50}, 2, dtype), array(3.0f, dtype));
    const array targets = some_targets({4, 6}, 50);
    const array weights = random_array({4, 6}, 3);
    auto loss_of = [&](auto ce) {
      return [=](const std::vector<array>& xs) { return std::vector<array>{sum(multiply(ce(xs[0], targets), weights))}; };
    };
    auto fused = vjp(loss_of([](const array& x, const array& t) { return fast::cross_entropy(x, t); }), {logits},
                     {array(1.0f)});
    auto formula = vjp(loss_of(reference), {logits}, {array(1.0f)});
    EXPECT_EQ(fused.second[0].dtype(), dtype);
    expect_same(fused.second[0], formula.second[0], dtype == float32 ? 1e-6f : 1e-2f);
  }
}

TEST(CrossEntropy, FiniteDifferences) {
  const array targets = some_targets({2, 3}, 7);
  check_vjp([&](const std::vector<array>& xs) { return fast::cross_entropy(xs[0], targets); },
            {random_array({2, 3, 7}, 4)});
}

// The gradient primitive's own VJP (second derivatives), w.r.t. the logits and the row weights.
TEST(CrossEntropy, GradientOfTheGradientByFiniteDifferences) {
  const array targets = some_targets({5}, 9);
  auto gradient = [&](const std::vector<array>& xs) {
    auto [value, grads] = vjp(
        [&](const std::vector<array>& inner) { return std::vector<array>{fast::cross_entropy(inner[0], targets)}; },
        {xs[0]}, {xs[1]});
    return grads[0];
  };
  check_vjp(gradient, {random_array({5, 9}, 5), random_array({5}, 6)});
}

TEST(CrossEntropy, BadInputIsAClearError) {
  const array logits = random_array({2, 4}, 7);
  expect_error<std::invalid_argument>([&] { fast::cross_entropy(logits, some_targets({3}, 4)); },
                                      "[cross_entropy] targets must have the logits' shape");
  expect_error<std::invalid_argument>([&] { fast::cross_entropy(logits, random_array({2}, 8)); },
                                      "[cross_entropy] targets must be integers");
  expect_error<std::out_of_range>(
      [&] { fast::cross_entropy(logits, array(std::vector<int>{1, 4}, {2}, int32)).eval(); },
      "[cross_entropy] target 4 of row 1 is outside [0, 4)");
}

// Training on a large vocabulary: the fused loss and gradient keep far less alive than the
// op-by-op formula (exponentials, softmax and a scattered one-hot of [rows, classes] each).
TEST(CrossEntropy, GradientNeedsLessMemoryThanTheFormula) {
  const array logits = random_array({64, 8192}, 9);
  const array targets = some_targets({64}, 8192);
  logits.eval();
  auto peak_of = [&](auto ce) {
    reset_peak_memory();
    const size_t base = get_active_memory();
    auto [value, grads] = vjp([&](const std::vector<array>& xs) { return std::vector<array>{sum(ce(xs[0], targets))}; },
                              {logits}, {array(1.0f)});
    eval(grads[0]);
    return get_peak_memory() - base;
  };
  const size_t fused = peak_of([](const array& x, const array& t) { return fast::cross_entropy(x, t); });
  const size_t formula = peak_of(reference);
  const size_t matrix = 64 * 8192 * sizeof(float);
  EXPECT_LE(fused, matrix + matrix / 4) << "formula: " << formula;
  EXPECT_GE(formula, 2 * matrix);
}

}  // namespace
}  // namespace tessera
