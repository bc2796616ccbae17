// take / take_along_axis / put_along_axis / gather / scatter_add.
#include <gtest/gtest.h>

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

array ints(const std::vector<int32_t>& v, Shape shape) { return array(v, std::move(shape)); }

array iota(Shape shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return reshape(arange(0.0, static_cast<double>(n), 1.0), shape);
}

TEST(Take, AlongAxes) {
  const array a = iota({3, 4});
  const array rows = take(a, ints({2, 0, 2}, {3}), 0);
  EXPECT_EQ(rows.shape(), (Shape{3, 4}));
  expect_close(rows, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  const array cols = take(a, ints({3, 1, 0, 0}, {2, 2}), 1);
  EXPECT_EQ(cols.shape(), (Shape{3, 2, 2}));
  expect_close(cols, {3, 1, 0, 0, 7, 5, 4, 4, 11, 9, 8, 8});
  expect_close(take(a, ints({5, 11}, {2})), {5, 11});  // flattened
  EXPECT_EQ(take(a, array(2), 0).shape(), (Shape{4}));  // scalar index drops the axis
  // Embedding lookup from a bf16 table with int64 / uint32 indices.
  const array table = astype(iota({5, 3}), bfloat16);
  const array e = take(table, array(std::vector<int64_t>{4, 1}, {1, 2}), 0);
  EXPECT_EQ(e.dtype(), bfloat16);
  EXPECT_EQ(e.shape(), (Shape{1, 2, 3}));
  expect_close(e, {12, 13, 14, 3, 4, 5});
  expect_close(take(a, array(std::vector<uint32_t>{1}, {1}), 0), {4, 5, 6, 7});
  expect_close(take(transpose(a), ints({1}, {1}), 0), {1, 5, 9});
}

TEST(Take, OutOfRangeIndices) {
  const array a = mat({10, 20, 30}, {3});
  expect_close(take(a, ints({-1, -3}, {2}), 0), {30, 10});  // negative indices count from the end
  expect_close(take(a, ints({3, 100, -100}, {3}), 0), {30, 30, 10});  // still out of range: clamped
  EXPECT_EQ(take(zeros({0, 2}), ints({}, {0}), 0).shape(), (Shape{0, 2}));
  EXPECT_EQ(take(zeros({2, 3}), ints({}, {0}), 1).shape(), (Shape{2, 0}));
  expect_error<std::out_of_range>([] { take(zeros({0, 2}), ints({0}, {1}), 0); }, "[take] ");
  expect_error<std::invalid_argument>([&] { take(a, mat({1}, {1}), 0); }, "[take] ");
  expect_error<std::out_of_range>([&] { take(a, ints({0}, {1}), 1); }, "[take] ");
  expect_error<std::invalid_argument>([] { take(array(1.0f), ints({0}, {1}), 0); }, "[take] ");
}

TEST(TakeAlongAxis, GathersPerRow) {
  const array a = mat({10, 30, 20, 60, 40, 50}, {2, 3});
  const array idx = ints({1, 0, 2, 2}, {2, 2});
  const array t = take_along_axis(a, idx, 1);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  expect_close(t, {30, 10, 50, 50});
  expect_close(take_along_axis(a, ints({1, 0, 0}, {1, 3}), 0), {60, 30, 20});
  // Indices broadcast over the other axes.
  expect_close(take_along_axis(a, ints({2}, {1, 1}), 1), {20, 50});
  expect_close(take_along_axis(a, ints({-1, 7}, {2, 1}), 1), {20, 50});
  expect_close(take_along_axis(a, argmax(a, 1, true), 1), {30, 60});
  expect_error<std::invalid_argument>([&] { take_along_axis(a, ints({0}, {1}), 1); }, "[take_along_axis] ");
}

TEST(PutAlongAxis, AssignsPerRow) {
  const array a = zeros({2, 3});
  const array p = put_along_axis(a, ints({2, 0}, {2, 1}), mat({5, 7}, {2, 1}), 1);
  expect_close(p, {0, 0, 5, 7, 0, 0});
  expect_close(put_along_axis(a, ints({1}, {1, 1}), array(9.0f), 1), {0, 9, 0, 0, 9, 0});
  expect_close(put_along_axis(a, ints({-1, 3}, {2, 1}), array(1.0f), 1), {0, 0, 1, 0, 0, 0});  // 3 is dropped
  expect_close(a, std::vector<float>(6, 0.0f));  // the source is untouched
}

TEST(Gather, SlicesAtIndexTuples) {
  const array a = iota({3, 4});
  // Rows 2 and 0, full width: the embedding gather.
  const array g = gather(a, {ints({2, 0}, {2})}, {0}, {1, 4});
  EXPECT_EQ(g.shape(), (Shape{2, 1, 4}));
  expect_close(g, {8, 9, 10, 11, 0, 1, 2, 3});
  // Element pairs (row, col), broadcasting the index arrays.
  const array pairs = gather(a, {ints({0, 1, 2}, {3}), ints({3}, {1})}, {0, 1}, {1, 1});
  EXPECT_EQ(pairs.shape(), (Shape{3, 1, 1}));
  expect_close(pairs, {3, 7, 11});
  // 2x2 blocks; a start that would overrun clamps back inside.
  const array blocks = gather(a, {ints({1, 2}, {2}), ints({2, 3}, {2})}, {0, 1}, {2, 2});
  expect_close(blocks, {6, 7, 10, 11, 6, 7, 10, 11});
  expect_error<std::invalid_argument>([&] { gather(a, {ints({0}, {1})}, {0}, {1}); }, "[gather] ");
  expect_error<std::invalid_argument>([&] { gather(a, {ints({0}, {1})}, {0}, {1, 5}); }, "[gather] ");
  expect_error<std::invalid_argument>([&] { gather(a, {ints({0}, {1})}, {}, {1, 4}); }, "[gather] ");
}

TEST(ScatterAdd, AccumulatesRepeatedIndices) {
  // Embedding gradient: rows of updates added into the table at (repeated) token ids.
  const array table = zeros({4, 2});
  const array ids = ints({1, 3, 1}, {3});
  const array upd = reshape(mat({1, 2, 3, 4, 5, 6}, {3, 2}), {3, 1, 2});
  const array s = scatter_add(table, {ids}, upd, {0});
  expect_close(s, {0, 0, 6, 8, 0, 0, 3, 4});
  // Out-of-range blocks are dropped, negative ones wrap.
  expect_close(scatter_add(table, {ints({-1, 9}, {2})}, reshape(mat({1, 1, 2, 2}, {2, 2}), {2, 1, 2}), {0}),
               {0, 0, 0, 0, 0, 0, 1, 1});
  const array base = astype(iota({2, 2}), bfloat16);
  const array sb = scatter_add(base, {ints({0}, {1}), ints({1}, {1})}, reshape(mat({10}, {1}), {1, 1, 1}), {0, 1});
  EXPECT_EQ(sb.dtype(), bfloat16);
  expect_close(sb, {0, 11, 2, 3});
  const array ii = scatter_add(zeros({3}, int32), {ints({0, 0, 2}, {3})}, reshape(ints({1, 2, 3}, {3}), {3, 1}), {0});
  EXPECT_EQ(ii.to_vector<int32_t>(), (std::vector<int32_t>{3, 0, 3}));
  expect_error<std::invalid_argument>([&] { scatter_add(table, {ids}, mat({1, 2, 3}, {3}), {0}); }, "[scatter_add] ");
}

TEST(IndexingGrad, Vjp) {
  const array x = random_array({4, 3}, 41);
  const array idx = ints({3, 0, 3}, {3});
  check_vjp([&](const std::vector<array>& v) { return take(v[0], idx, 0); }, {x});
  check_vjp([&](const std::vector<array>& v) { return take(v[0], ints({2, 0, 2, 1}, {2, 2}), 1); }, {x});
  check_vjp([&](const std::vector<array>& v) { return take_along_axis(v[0], ints({0, 2, 2, 1}, {4, 1}), 1); }, {x});
  check_vjp([&](const std::vector<array>& v) { return put_along_axis(v[0], ints({1, 0, 2, 1}, {4, 1}), v[1], 1); },
            {x, random_array({4, 1}, 42)});
  check_vjp([&](const std::vector<array>& v) { return gather(v[0], {idx}, {0}, {1, 2}); }, {x});
  check_vjp([&](const std::vector<array>& v) { return scatter_add(v[0], {idx}, v[1], {0}); },
            {x, random_array({3, 1, 3}, 43)});
}

}  // namespace
}  // namespace tessera
