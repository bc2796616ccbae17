// Reductions, softmax and scans against hand-computed (NumPy-equivalent) values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gradcheck.h"
#include "numeric_test_util.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using testing::check_vjp;
using testing::expect_close;
using testing::expect_error;
using testing::expect_same;
using testing::mat;
using testing::random_array;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

array iota(Shape shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return reshape(arange(0.0, static_cast<double>(n), 1.0), shape);
}

TEST(Reduce, SumOverAxesWithKeepdims) {
  const array a = iota({2, 3, 4});
  expect_close(sum(a), {276});
  expect_close(sum(a, 1), {12, 15, 18, 21, 48, 51, 54, 57});
  EXPECT_EQ(sum(a, 1).shape(), (Shape{2, 4}));
  EXPECT_EQ(sum(a, 1, true).shape(), (Shape{2, 1, 4}));
  expect_close(sum(a, std::vector<int>{0, 2}), {60, 92, 124});
  expect_close(sum(a, std::vector<int>{-1, 0}, true), {60, 92, 124});
  EXPECT_EQ(sum(a, std::vector<int>{-1, 0}, true).shape(), (Shape{1, 3, 1}));
  expect_close(sum(a, -1), {6, 22, 38, 54, 70, 86});
  expect_close(sum(a, std::vector<int>{}), a.to_vector<float>());
}

TEST(Reduce, StridedAndBroadcastViews) {
  const array a = iota({3, 4});
  const array t = transpose(a);  // [4, 3], column-major view
  expect_close(sum(t, 1), {12, 15, 18, 21});
  expect_close(sum(t, 0), {6, 22, 38});
  expect_close(max(t, 1), {8, 9, 10, 11});
  const array b = broadcast_to(array({1.0f, 2.0f, 3.0f}), {4, 3});
  expect_close(sum(b, 0), {4, 8, 12});
  expect_close(sum(b), {24});
  const array sl = slice(iota({4, 6}), {0, 1}, {4, 6}, {2, 2});  // rows 0, 2; cols 1, 3, 5
  expect_close(sum(sl, 1), {1 + 3 + 5, 13 + 15 + 17});
}

TEST(Reduce, Dtypes) {
  for (Dtype dt : testing::float_dtypes()) {
    const array a = astype(iota({2, 8}), dt);
    const array s = sum(a, 1);
    EXPECT_EQ(s.dtype(), dt);
    expect_close(s, {28, 92}, testing::tol_for(dt));
    expect_close(mean(a, 1), {3.5f, 11.5f}, testing::tol_for(dt));
    expect_close(max(a, 0), {8, 9, 10, 11, 12, 13, 14, 15}, testing::tol_for(dt));
  }
  const array i = array(std::vector<int32_t>{1, -2, 3, 4}, {2, 2});
  EXPECT_EQ(sum(i).dtype(), int32);
  EXPECT_EQ(sum(i).item<int32_t>(), 6);
  EXPECT_EQ(prod(i).item<int32_t>(), -24);
  EXPECT_EQ(min(i).item<int32_t>(), -2);
  EXPECT_EQ(mean(i).dtype(), float32);
  EXPECT_FLOAT_EQ(mean(i).item<float>(), 1.5f);
  const array bools = astype(mat({1, 0, 1, 1}, {4}), bool_);
  EXPECT_EQ(sum(bools).dtype(), int32);
  EXPECT_EQ(sum(bools).item<int32_t>(), 3);
  const array bytes = array(std::vector<uint8_t>{200, 100}, {2});
  EXPECT_EQ(sum(bytes).dtype(), int32);
  EXPECT_EQ(sum(bytes).item<int32_t>(), 300);
  const array big = array(std::vector<int64_t>{int64_t{1} << 40, 1}, {2});
  EXPECT_EQ(sum(big).item<int64_t>(), (int64_t{1} << 40) + 1);
}

TEST(Reduce, AllAny) {
  const array a = astype(mat({1, 0, 1, 1}, {2, 2}), bool_);
  EXPECT_EQ(all(a, 1).to_vector<bool>(), (std::vector<bool>{false, true}));
  EXPECT_EQ(any(a, 0).to_vector<bool>(), (std::vector<bool>{true, true}));
  EXPECT_FALSE(all(a).item<bool>());
  EXPECT_TRUE(any(array({0.0f, 0.5f})).item<bool>());
  EXPECT_EQ(all(a).dtype(), bool_);
  EXPECT_TRUE(all(zeros({0})).item<bool>());
  EXPECT_FALSE(any(zeros({0})).item<bool>());
}

TEST(Reduce, EmptyArrays) {
  const array e = zeros({0, 3});
  expect_close(sum(e, 0), {0, 0, 0});
  expect_close(prod(e, 0), {1, 1, 1});
  EXPECT_EQ(sum(e, 1).shape(), (Shape{0}));
  EXPECT_EQ(max(e, 1).shape(), (Shape{0}));
  EXPECT_EQ(max(e, 1).size(), 0u);
  expect_error<std::invalid_argument>([&] { max(e); }, "[max] ");
  expect_error<std::invalid_argument>([&] { min(e, 0); }, "[min] ");
  EXPECT_TRUE(std::isnan(mean(e).item<float>()));
  expect_error<std::invalid_argument>([&] { argmax(e, 0); }, "[argmax] ");
}

TEST(Reduce, MaxMinPropagateNaN) {
  const array a = mat({1.0f, kNaN, 3.0f, -1.0f, 0.0f, 2.0f}, {2, 3});
  expect_close(max(a, 1), {kNaN, 2.0f});
  expect_close(min(a, 1), {kNaN, -1.0f});
  expect_close(max(array({-kInf, -kInf})), {-kInf});
}

TEST(Reduce, ArgmaxArgmin) {
  const array a = mat({1.0f, 5.0f, 5.0f, -2.0f, 0.0f, -2.0f}, {2, 3});
  const array am = argmax(a, 1);
  EXPECT_EQ(am.dtype(), uint32);
  EXPECT_EQ(am.to_vector<uint32_t>(), (std::vector<uint32_t>{1, 1}));  // first of the ties
  EXPECT_EQ(argmin(a, 1).to_vector<uint32_t>(), (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(argmax(a, 0).to_vector<uint32_t>(), (std::vector<uint32_t>{0, 0, 0}));
  EXPECT_EQ(argmax(a, 1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(argmax(a).item<uint32_t>(), 1u);
  EXPECT_EQ(argmin(a).item<uint32_t>(), 3u);
  EXPECT_EQ(argmax(a, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(argmax(transpose(a), 0).to_vector<uint32_t>(), (std::vector<uint32_t>{1, 1}));
  EXPECT_EQ(argmax(array(std::vector<int32_t>{3, 9, 9, 1}, {4})).item<uint32_t>(), 1u);
  EXPECT_EQ(argmax(astype(a, bfloat16), 1).to_vector<uint32_t>(), (std::vector<uint32_t>{1, 1}));
  EXPECT_EQ(argmax(array({1.0f, kNaN, 3.0f})).item<uint32_t>(), 1u);
}

// Long contiguous float rows take the SIMD path (maximum, then its first position): ties, a
// maximum in a row's tail, signed zeros, all -inf and NaN must give what the scalar loop gives.
TEST(Reduce, ArgmaxLongRows) {
  const int64_t n = 1000;  // not a multiple of any vector width
  std::vector<float> rows(6 * n, -1.0f);
  float* r = rows.data();
  r[0 * n + 700] = 4.0f, r[0 * n + 300] = 4.0f, r[0 * n + 900] = 3.0f;  // first of two ties
  r[1 * n + n - 1] = 2.0f;                                             // in the tail
  for (int64_t i = 0; i < n; ++i) r[2 * n + i] = -0.0f;
  r[2 * n + 17] = 0.0f;  // -0 == +0: the first zero wins
  for (int64_t i = 0; i < n; ++i) r[3 * n + i] = -kInf;
  r[4 * n + 5] = 9.0f, r[4 * n + 600] = kNaN;  // NaN wins, as the maximum
  r[5 * n + 999] = kInf;
  const array a(rows.data(), {6, n}, float32);
  EXPECT_EQ(argmax(a, 1).to_vector<uint32_t>(), (std::vector<uint32_t>{300, 999, 0, 0, 600, 999}));
  EXPECT_EQ(argmax(transpose(a), 0).to_vector<uint32_t>(), (std::vector<uint32_t>{300, 999, 0, 0, 600, 999}));
}

TEST(Reduce, MeanVarStd) {
  const array a = mat({1.0f, 2.0f, 3.0f, 4.0f, 2.0f, 2.0f, 2.0f, 6.0f}, {2, 4});
  expect_close(mean(a, 1), {2.5f, 3.0f});
  expect_close(var(a, 1), {1.25f, 3.0f});
  expect_close(var(a, 1, false, 1), {5.0f / 3.0f, 4.0f});
  expect_close(std(a, 1), {std::sqrt(1.25f), std::sqrt(3.0f)});
  expect_close(var(a), {2.1875f});
  EXPECT_EQ(var(a, 0, true).shape(), (Shape{1, 4}));
  expect_close(var(array({1.0f}), 0, false, 1), {kNaN});
}

TEST(Reduce, Logsumexp) {
  expect_close(logsumexp(array({1000.0f, 1000.0f})), {1000.0f + std::log(2.0f)});
  expect_close(logsumexp(array({-kInf, -kInf})), {-kInf});
  expect_close(logsumexp(array({kInf, 1.0f})), {kInf});
  const array a = mat({0.0f, 1.0f, 2.0f, 3.0f}, {2, 2});
  expect_close(logsumexp(a, 1), {std::log(1.0f + std::exp(1.0f)), 2.0f + std::log(1.0f + std::exp(1.0f))});
  EXPECT_EQ(logsumexp(a, 1, true).shape(), (Shape{2, 1}));
}

TEST(Reduce, BadAxes) {
  const array a = zeros({2, 3});
  expect_error<std::out_of_range>([&] { sum(a, 2); }, "[sum] ");
  expect_error<std::out_of_range>([&] { max(a, -3); }, "[max] ");
  expect_error<std::invalid_argument>([&] { sum(a, std::vector<int>{0, -2}); }, "[sum] ");
  expect_error<std::out_of_range>([&] { argmax(a, 5); }, "[argmax] ");
  expect_error<std::out_of_range>([&] { softmax(a, 2); }, "[softmax] ");
  expect_error<std::out_of_range>([&] { cumsum(a, 2); }, "[cumsum] ");
}

std::vector<float> softmax_ref(const std::vector<float>& x) {
  float m = -kInf;
  for (float v : x) m = std::max(m, v);
  std::vector<float> y(x.size());
  float s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (y[i] = std::exp(x[i] - m));
  for (auto& v : y) v /= s;
  return y;
}

TEST(Softmax, MatchesReference) {
  const std::vector<float> row{1.0f, 2.0f, 3.0f, -1.0f, 0.5f};
  expect_close(softmax(array(row, {1, 5})), softmax_ref(row));
  const std::vector<float> ref = softmax_ref(row);
  std::vector<float> logref(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) logref[i] = std::log(ref[i]);
  expect_close(log_softmax(array(row, {5})), logref);
  // A long row exercises the vector loop and its tail.
  const auto long_row = testing::pseudo_random(67, 3);
  expect_close(softmax(array(long_row, {67}), -1, true), softmax_ref(long_row));
  for (Dtype dt : testing::float_dtypes()) {
    const array s = softmax(astype(array(row, {5}), dt));
    EXPECT_EQ(s.dtype(), dt);
    expect_close(s, softmax_ref(row), testing::tol_for(dt) * 2);
  }
}

TEST(Softmax, AxesMaskedRowsAndViews) {
  const array a = mat({1.0f, 2.0f, 3.0f, 4.0f, 0.0f, -1.0f}, {2, 3});
  const auto c0 = softmax_ref({1.0f, 4.0f});
  expect_close(softmax(a, 0), {c0[0], softmax_ref({2.0f, 0.0f})[0], softmax_ref({3.0f, -1.0f})[0], c0[1],
                               softmax_ref({2.0f, 0.0f})[1], softmax_ref({3.0f, -1.0f})[1]});
  expect_same(softmax(transpose(a), 1), transpose(softmax(a, 0)));
  const auto all_axes = softmax_ref({1, 2, 3, 4, 0, -1});
  expect_close(softmax(a, std::vector<int>{0, 1}), all_axes);
  // -inf entries get probability 0; a finite row with +inf is not NaN anywhere but there.
  expect_close(softmax(array({-kInf, 0.0f, -kInf})), {0.0f, 1.0f, 0.0f});
  expect_close(log_softmax(array({-kInf, 0.0f})), {-kInf, 0.0f});
  EXPECT_EQ(softmax(zeros({0, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(softmax(array(std::vector<int32_t>{1, 1}, {2})).dtype(), float32);
}

TEST(Scan, CumsumAndCummax) {
  const array a = mat({1.0f, 3.0f, 2.0f, 5.0f, 4.0f, 0.0f}, {2, 3});
  expect_close(cumsum(a, 1), {1, 4, 6, 5, 9, 9});
  expect_close(cumsum(a, 0), {1, 3, 2, 6, 7, 2});
  expect_close(cumsum(a, 1, true), {6, 5, 2, 9, 4, 0});
  expect_close(cumsum(a, 1, false, false), {0, 1, 4, 0, 5, 9});
  expect_close(cumsum(a, 1, true, false), {5, 2, 0, 4, 0, 0});
  expect_close(cummax(a, 1), {1, 3, 3, 5, 5, 5});
  expect_close(cummax(a, 1, true), {3, 3, 2, 5, 4, 0});
  expect_close(cummax(a, 1, false, false), {-kInf, 1, 3, -kInf, 5, 5});
  expect_close(cumsum(transpose(a), 1), {1, 6, 3, 7, 2, 2});
  const array b = astype(mat({1, 0, 1}, {3}), bool_);
  EXPECT_EQ(cumsum(b, 0).dtype(), int32);
  EXPECT_EQ(cumsum(b, 0).to_vector<int32_t>(), (std::vector<int32_t>{1, 1, 2}));
  EXPECT_EQ(cummax(array(std::vector<int32_t>{2, 1, 7}, {3}), 0).to_vector<int32_t>(),
            (std::vector<int32_t>{2, 2, 7}));
  expect_close(cumsum(astype(a, bfloat16), 1), {1, 4, 6, 5, 9, 9});
  EXPECT_EQ(cumsum(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
}

TEST(ReduceGrad, Reductions) {
  const array x = random_array({3, 4}, 7);
  check_vjp([](const std::vector<array>& v) { return sum(v[0], 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return sum(v[0], std::vector<int>{0, 1}, true); }, {x});
  check_vjp([](const std::vector<array>& v) { return mean(v[0], 0); }, {x});
  check_vjp([](const std::vector<array>& v) { return prod(v[0], 1); }, {add(x, array(2.0f))});
  // Zeros (one or two per product) need no division.
  const array z = mat({1, 0, 3, 2, 0, 0, 0.5f, 4, -1, 2, 3, 0}, {2, 3, 2});
  check_vjp([](const std::vector<array>& v) { return prod(v[0], std::vector<int>{0, 2}); }, {z});
  check_vjp([](const std::vector<array>& v) { return prod(v[0], 1, true); }, {z});
  check_vjp([](const std::vector<array>& v) { return prod(v[0]); }, {x});
  check_vjp([](const std::vector<array>& v) { return max(v[0], 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return min(v[0], 0, true); }, {x});
  check_vjp([](const std::vector<array>& v) { return var(v[0], 1, false, 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return std(v[0], 0); }, {x});
  check_vjp([](const std::vector<array>& v) { return logsumexp(v[0], 1); }, {x});
}

TEST(ReduceGrad, SoftmaxAndScans) {
  const array x = random_array({3, 5}, 11);
  check_vjp([](const std::vector<array>& v) { return softmax(v[0], -1); }, {x});
  check_vjp([](const std::vector<array>& v) { return softmax(v[0], 0); }, {x});
  check_vjp([](const std::vector<array>& v) { return log_softmax(v[0], -1); }, {x});
  check_vjp([](const std::vector<array>& v) { return cumsum(v[0], 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return cumsum(v[0], 0, true, false); }, {x});
  check_vjp([](const std::vector<array>& v) { return cummax(v[0], 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return cummax(v[0], 1, true); }, {x});
  // The exclusive scan starts with -inf, which finite differences cannot take: drop that row.
  check_vjp([](const std::vector<array>& v) { return slice(cummax(v[0], 0, false, false), {1, 0}, {3, 5}); }, {x});
}

}  // namespace
}  // namespace tessera
