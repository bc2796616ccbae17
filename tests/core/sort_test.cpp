// sort / argsort / partition / argpartition / topk.
#include <gtest/gtest.h>

#include <algorithm>
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
using testing::mat;
using testing::random_array;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(Sort, ValuesAndIndices) {
  const array a = mat({3, 1, 2, 9, 7, 8}, {2, 3});
  expect_close(sort(a), {1, 2, 3, 7, 8, 9});
  expect_close(sort(a, 0), {3, 1, 2, 9, 7, 8});
  const array idx = argsort(a);
  EXPECT_EQ(idx.dtype(), uint32);
  EXPECT_EQ(idx.to_vector<uint32_t>(), (std::vector<uint32_t>{1, 2, 0, 1, 2, 0}));
  EXPECT_EQ(argsort(transpose(a), 1).to_vector<uint32_t>(), (std::vector<uint32_t>{0, 1, 0, 1, 0, 1}));
  // Stable for ties; NaN sorts last.
  EXPECT_EQ(argsort(mat({2, 1, 2, 1}, {4})).to_vector<uint32_t>(), (std::vector<uint32_t>{1, 3, 0, 2}));
  expect_close(sort(mat({kNaN, 1, -1}, {3})), {-1, 1, kNaN});
  EXPECT_EQ(sort(array(std::vector<int32_t>{5, -2, 0}, {3})).to_vector<int32_t>(), (std::vector<int32_t>{-2, 0, 5}));
  for (Dtype dt : testing::float_dtypes()) {
    const array s = sort(astype(a, dt), 1);
    EXPECT_EQ(s.dtype(), dt);
    expect_close(s, {1, 2, 3, 7, 8, 9});
  }
  EXPECT_EQ(sort(zeros({0, 3})).shape(), (Shape{0, 3}));
  expect_error<std::out_of_range>([&] { sort(a, 2); }, "[sort] ");
  expect_error<std::invalid_argument>([] { sort(array(1.0f)); }, "[sort] ");
}

// Long rows (a vocabulary of logits) take the radix path: it must give std::stable_sort's
// order, with ties in index order, -0 equal to +0, infinities at the ends and NaN last.
TEST(Sort, LongRowsMatchAStableSort) {
  const int64_t n = 5003;
  std::vector<float> v = random_array({2, n}, 31).to_vector<float>();
  for (int64_t i = 0; i < 2 * n; i += 7) v[i] = std::round(v[i] * 4.0f) / 4.0f;  // many ties
  const float inf = std::numeric_limits<float>::infinity();
  v[3] = kNaN, v[10] = -0.0f, v[11] = 0.0f, v[12] = -0.0f, v[20] = inf, v[21] = -inf, v[n + 5] = kNaN;
  v[n + 6] = -1e-40f, v[n + 7] = 1e-40f;  // subnormals
  const array a(v, {2, n}, float32);
  for (Dtype dt : {float32, bfloat16}) {
    const std::vector<float> keys = astype(astype(a, dt), float32).to_vector<float>();
    std::vector<uint32_t> want;
    for (int64_t r = 0; r < 2; ++r) {
      std::vector<uint32_t> row(n);
      for (int64_t i = 0; i < n; ++i) row[i] = static_cast<uint32_t>(i);
      const float* k = keys.data() + r * n;
      std::stable_sort(row.begin(), row.end(), [&](uint32_t x, uint32_t y) {
        if (std::isnan(k[x])) return false;
        return std::isnan(k[y]) || k[x] < k[y];
      });
      want.insert(want.end(), row.begin(), row.end());
    }
    EXPECT_EQ(argsort(astype(a, dt)).to_vector<uint32_t>(), want) << to_string(dt);
  }
}

// A small kth of a long row (top-k sampling) takes a one-pass heap; a large kth nth_element.
TEST(Partition, LongRowsAtSmallAndLargeKth) {
  const int64_t n = 6000;
  std::vector<float> v = random_array({n}, 41).to_vector<float>();
  for (int64_t i = 0; i < n; i += 5) v[i] = std::round(v[i] * 8.0f) / 8.0f;  // ties
  v[17] = kNaN;
  const array a(v, {n}, float32);
  std::vector<float> sorted = v;
  std::sort(sorted.begin(), sorted.end(), [](float x, float y) { return !std::isnan(x) && (std::isnan(y) || x < y); });
  for (int64_t kth : {int64_t{0}, int64_t{39}, int64_t{93}, int64_t{3000}, n - 2}) {
    const std::vector<uint32_t> idx = argpartition(a, static_cast<int>(kth)).to_vector<uint32_t>();
    std::vector<uint32_t> seen = idx;
    std::sort(seen.begin(), seen.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], static_cast<uint32_t>(i)) << "kth " << kth;
    const float pivot = v[idx[kth]];
    EXPECT_EQ(pivot, sorted[kth]) << "kth " << kth;
    for (int64_t i = 0; i < kth; ++i) ASSERT_LE(v[idx[i]], pivot) << "kth " << kth << " position " << i;
    for (int64_t i = kth + 1; i < n; ++i)
      ASSERT_TRUE(std::isnan(v[idx[i]]) || v[idx[i]] >= pivot) << "kth " << kth << " position " << i;
  }
}

TEST(Partition, KthElementInPlace) {
  const auto v = testing::pseudo_random(20, 5);
  const array a = mat(v, {20});
  std::vector<float> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int kth : {0, 7, 19, -1}) {
    const int k = kth < 0 ? 20 + kth : kth;
    const auto p = partition(a, kth).to_vector<float>();
    EXPECT_EQ(p[k], sorted[k]);
    for (int i = 0; i < k; ++i) EXPECT_LE(p[i], p[k]);
    for (int i = k + 1; i < 20; ++i) EXPECT_GE(p[i], p[k]);
    const auto ip = argpartition(a, kth).to_vector<uint32_t>();
    EXPECT_EQ(v[ip[k]], sorted[k]);
  }
  expect_error<std::out_of_range>([&] { partition(a, 20); }, "[partition] ");
  expect_error<std::out_of_range>([&] { argpartition(a, -21); }, "[argpartition] ");
}

TEST(Topk, LargestValues) {
  const array a = mat({1, 9, 3, 7, 5, 4, 8, 2}, {2, 4});
  const auto t = sort(topk(a, 2), 1);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  expect_close(t, {7, 9, 5, 8});
  expect_close(sort(topk(a, 1, 0), 1), {5, 7, 8, 9});
  EXPECT_EQ(topk(a, 0).shape(), (Shape{2, 0}));
  expect_error<std::out_of_range>([&] { topk(a, 5); }, "[topk] ");
}

TEST(SortGrad, Vjp) {
  const array x = random_array({3, 5}, 51);
  check_vjp([](const std::vector<array>& v) { return sort(v[0], 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return sort(v[0], 0); }, {x});
  check_vjp([](const std::vector<array>& v) { return partition(v[0], 2, 1); }, {x});
  check_vjp([](const std::vector<array>& v) { return topk(v[0], 2, 1); }, {x});
}

}  // namespace
}  // namespace tessera
