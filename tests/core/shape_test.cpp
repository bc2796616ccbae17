#include <gtest/gtest.h>

#include <functional>

#include "gradcheck.h"
#include "tessera/tessera.h"

namespace tx = tessera;
using tx::array;
using tx::Shape;

namespace {

array iota(Shape shape, tx::Dtype dtype = tx::float32) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return tx::reshape(tx::arange(0.0, static_cast<double>(n), 1.0, dtype), shape);
}

std::vector<float> vals(const array& a) { return a.to_vector<float>(); }

template <typename E>
void expect_error(const std::function<void()>& fn, const std::string& prefix) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one starting with " << prefix;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
  }
}

// The views below must share their source's buffer.
void expect_shares_buffer(const array& view, const array& source) {
  view.eval();
  source.eval();
  EXPECT_EQ(view.data_shared_ptr(), source.data_shared_ptr());
}

}  // namespace

TEST(Creation, FullZerosOnes) {
  EXPECT_EQ(vals(tx::zeros({2, 2})), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(vals(tx::ones({3}, tx::int32)), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(tx::ones({3}, tx::int32).dtype(), tx::int32);
  EXPECT_EQ(vals(tx::full({2}, array(2.5f))), (std::vector<float>{2.5f, 2.5f}));
  EXPECT_EQ(tx::full({2}, array(2.5f), tx::bfloat16).dtype(), tx::bfloat16);
  EXPECT_EQ(vals(tx::full({2, 2}, array({1.0f, 2.0f}))), (std::vector<float>{1, 2, 1, 2}));
  EXPECT_TRUE(tx::zeros({2, 3}).flags().row_contiguous || true);
  array z = tx::zeros({4, 5});
  z.eval();
  EXPECT_TRUE(z.flags().row_contiguous);
  EXPECT_EQ(vals(tx::zeros_like(iota({2, 3}))).size(), 6u);
  EXPECT_EQ(vals(tx::ones_like(iota({2}))), (std::vector<float>{1, 1}));
  EXPECT_EQ(tx::zeros({0, 4}).size(), 0u);
  expect_error<std::invalid_argument>([] { tx::zeros({-1}); }, "[full] ");
  expect_error<std::invalid_argument>([] { tx::full({2, 2}, array({1.0f, 2.0f, 3.0f})); }, "[full] ");
}

TEST(Creation, ArangeLinspaceEyeTri) {
  EXPECT_EQ(tx::arange(5).to_vector<int>(), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(tx::arange(5).dtype(), tx::int32);
  EXPECT_EQ(vals(tx::arange(1.0, 2.0, 0.25)), (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(vals(tx::arange(5.0, 0.0, -2.0)), (std::vector<float>{5, 3, 1}));
  EXPECT_EQ(tx::arange(3.0, 1.0, 1.0).size(), 0u);
  EXPECT_EQ(tx::arange(2, 11, 3).to_vector<int>(), (std::vector<int>{2, 5, 8}));
  expect_error<std::invalid_argument>([] { tx::arange(0.0, 1.0, 0.0); }, "[arange] ");
  auto l = vals(tx::linspace(0.0, 1.0, 5));
  EXPECT_EQ(l, (std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1.0f}));
  EXPECT_EQ(vals(tx::linspace(3.0, 4.0, 1)), (std::vector<float>{3}));
  EXPECT_EQ(tx::linspace(0.0, 1.0, 0).size(), 0u);
  EXPECT_EQ(vals(tx::eye(3)), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(vals(tx::eye(2, 3, 1)), (std::vector<float>{0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(vals(tx::identity(2)), (std::vector<float>{1, 0, 0, 1}));
  EXPECT_EQ(vals(tx::tri(3)), (std::vector<float>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(vals(tx::tri(2, 3, 1)), (std::vector<float>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(tx::tri(2, 2, 0, tx::bool_).dtype(), tx::bool_);
}

TEST(Shape, ReshapeIsAViewOfContiguousData) {
  array a = iota({2, 3, 4});
  array r = tx::reshape(a, {6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(vals(r), vals(a));
  expect_shares_buffer(r, a);
  EXPECT_EQ(tx::flatten(a).shape(), (Shape{24}));
  EXPECT_EQ(tx::flatten(a, 1, 2).shape(), (Shape{2, 12}));
  EXPECT_EQ(tx::flatten(array(1.0f)).shape(), (Shape{1}));
  // Splitting an axis of a transposed view needs no copy either.
  array t = tx::transpose(iota({4, 6}));  // (6, 4) with strides (1, 6)
  array split_axis = tx::reshape(t, {2, 3, 4});
  EXPECT_EQ(vals(split_axis), vals(tx::contiguous(t)));
  expect_shares_buffer(split_axis, t);
  // Merging non-mergeable axes copies, with the right values.
  array merged = tx::reshape(t, {24});
  EXPECT_EQ(vals(merged)[1], 6.0f);
  expect_error<std::invalid_argument>([&] { tx::reshape(a, {5, 5}); }, "[reshape] ");
  expect_error<std::invalid_argument>([&] { tx::reshape(a, {-1, -1}); }, "[reshape] ");
  expect_error<std::invalid_argument>([&] { tx::reshape(a, {7, -1}); }, "[reshape] ");
  EXPECT_EQ(tx::reshape(tx::zeros({0, 3}), {3, 0, 5}).shape(), (Shape{3, 0, 5}));
}

TEST(Shape, TransposeFamily) {
  array a = iota({2, 3});
  array t = tx::transpose(a);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(vals(t), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  expect_shares_buffer(t, a);
  EXPECT_EQ(t.strides(), (tx::Strides{1, 3}));
  EXPECT_FALSE(t.flags().row_contiguous);
  EXPECT_TRUE(t.flags().col_contiguous);
  array b = iota({2, 3, 4});
  EXPECT_EQ(tx::transpose(b, {1, 0, 2}).shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(vals(tx::transpose(b, {2, 0, 1}))[1], 4.0f);
  EXPECT_EQ(tx::swapaxes(b, 0, -1).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(tx::moveaxis(b, 0, 2).shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(vals(tx::moveaxis(b, 0, 2))[1], 12.0f);
  expect_error<std::invalid_argument>([&] { tx::transpose(b, {0, 1}); }, "[transpose] ");
  expect_error<std::invalid_argument>([&] { tx::transpose(b, {0, 0, 1}); }, "[transpose] ");
  expect_error<std::out_of_range>([&] { tx::transpose(b, {0, 1, 3}); }, "[transpose] ");
  expect_error<std::out_of_range>([&] { tx::swapaxes(b, 0, 3); }, "[swapaxes] ");
}

TEST(Shape, SqueezeExpandDims) {
  array a = iota({1, 3, 1});
  EXPECT_EQ(tx::squeeze(a).shape(), (Shape{3}));
  EXPECT_EQ(tx::squeeze(a, 0).shape(), (Shape{3, 1}));
  EXPECT_EQ(tx::squeeze(a, std::vector<int>{0, -1}).shape(), (Shape{3}));
  expect_error<std::invalid_argument>([&] { tx::squeeze(a, 1); }, "[squeeze] ");
  EXPECT_EQ(tx::expand_dims(iota({3}), 0).shape(), (Shape{1, 3}));
  EXPECT_EQ(tx::expand_dims(iota({3}), -1).shape(), (Shape{3, 1}));
  EXPECT_EQ(tx::expand_dims(iota({3}), std::vector<int>{0, 2}).shape(), (Shape{1, 3, 1}));
  expect_error<std::out_of_range>([] { tx::expand_dims(iota({3}), 3); }, "[expand_dims] ");
  // expand_dims of a transposed view stays a view.
  array t = tx::transpose(iota({2, 3}));
  array e = tx::expand_dims(t, 1);
  EXPECT_EQ(vals(e), vals(t));
  expect_shares_buffer(e, t);
}

TEST(Shape, BroadcastTo) {
  array a({1.0f, 2.0f});
  array b = tx::broadcast_to(a, {3, 2});
  EXPECT_EQ(vals(b), (std::vector<float>{1, 2, 1, 2, 1, 2}));
  expect_shares_buffer(b, a);
  EXPECT_EQ(b.strides(), (tx::Strides{0, 1}));
  auto arrs = tx::broadcast_arrays({iota({2, 1}), iota({3})});
  EXPECT_EQ(arrs[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(arrs[0]), (std::vector<float>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(arrs[1].shape(), (Shape{2, 3}));
  expect_error<std::invalid_argument>([&] { tx::broadcast_to(a, {3}); }, "[broadcast_to] ");
  expect_error<std::invalid_argument>([&] { tx::broadcast_arrays({iota({2}), iota({3})}); }, "[broadcast_arrays] ");
  EXPECT_EQ(tx::broadcast_to(array(1.0f), {0, 4}).size(), 0u);
}

TEST(Shape, SliceWithStridesIsAView) {
  array a = iota({4, 5});
  array s = tx::slice(a, {1, 0}, {3, 5}, {1, 2});
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(s), (std::vector<float>{5, 7, 9, 10, 12, 14}));
  expect_shares_buffer(s, a);
  EXPECT_EQ(vals(tx::slice(a, {-1, -2}, {4, 5})), (std::vector<float>{18, 19}));
  EXPECT_EQ(vals(tx::slice(a, {0, 4}, {1, -6}, {1, -2})), (std::vector<float>{4, 2, 0}));
  EXPECT_EQ(tx::slice(a, {2, 0}, {2, 5}).shape(), (Shape{0, 5}));
  EXPECT_EQ(tx::slice(a, {0, 0}, {100, 100}).shape(), (Shape{4, 5}));  // clamped
  array ss = tx::slice(s, {0, 1}, {2, 3});  // slice of a slice
  EXPECT_EQ(vals(ss), (std::vector<float>{7, 9, 12, 14}));
  array rows = tx::slice(a, {1, 0}, {3, 5});
  rows.eval();
  EXPECT_TRUE(rows.flags().row_contiguous);
  expect_error<std::invalid_argument>([&] { tx::slice(a, {0}, {1}); }, "[slice] ");
  expect_error<std::invalid_argument>([&] { tx::slice(a, {0, 0}, {1, 1}, {1, 0}); }, "[slice] ");
}

TEST(Shape, SliceUpdate) {
  array a = tx::zeros({3, 4});
  array u = tx::slice_update(a, array({1.0f, 2.0f}), {1, 0}, {2, 4}, {1, 2});
  EXPECT_EQ(vals(u), (std::vector<float>{0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0}));
  EXPECT_EQ(vals(a), std::vector<float>(12, 0.0f));  // the source is unchanged
  array v = tx::slice_update(iota({2, 3}), array(9.0f), {0, 1}, {2, 3});
  EXPECT_EQ(vals(v), (std::vector<float>{0, 9, 9, 3, 9, 9}));
  array w = tx::slice_update(iota({2, 2}, tx::int32), array({7.5f, 8.5f}), {1, 0}, {2, 2});
  EXPECT_EQ(w.dtype(), tx::int32);
  EXPECT_EQ(w.to_vector<int>(), (std::vector<int>{0, 1, 7, 8}));
  expect_error<std::invalid_argument>([] { tx::slice_update(tx::zeros({3}), array({1.0f, 2.0f}), {0}, {3}); },
                                      "[slice_update] ");
}

TEST(Shape, ConcatenateStackSplit) {
  array a = iota({2, 2});
  array b = iota({2, 1}) + 10.0f;
  EXPECT_EQ(vals(tx::concatenate({a, b}, 1)), (std::vector<float>{0, 1, 10, 2, 3, 11}));
  EXPECT_EQ(vals(tx::concatenate({a, a}, 0)), (std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(vals(tx::concatenate({tx::transpose(a), b}, -1)), (std::vector<float>{0, 2, 10, 1, 3, 11}));
  EXPECT_EQ(tx::concatenate({a, tx::astype(b, tx::int32)}, 1).dtype(), tx::float32);
  EXPECT_EQ(tx::concatenate({tx::zeros({0, 2}), a}, 0).shape(), (Shape{2, 2}));
  expect_error<std::invalid_argument>([&] { tx::concatenate({a, b}, 0); }, "[concatenate] ");
  expect_error<std::invalid_argument>([] { tx::concatenate({}, 0); }, "[concatenate] ");
  array s = tx::stack({array({1.0f, 2.0f}), array({3.0f, 4.0f})}, 1);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(s), (std::vector<float>{1, 3, 2, 4}));
  expect_error<std::invalid_argument>([] { tx::stack({iota({2}), iota({3})}); }, "[stack] ");
  auto parts = tx::split(iota({6}), 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(vals(parts[2]), (std::vector<float>{4, 5}));
  auto uneven = tx::split(iota({2, 5}), Shape{1, 4}, 1);
  ASSERT_EQ(uneven.size(), 3u);
  EXPECT_EQ(vals(uneven[1]), (std::vector<float>{1, 2, 3, 6, 7, 8}));
  EXPECT_EQ(uneven[2].shape(), (Shape{2, 1}));
  expect_error<std::invalid_argument>([] { tx::split(iota({5}), 2); }, "[split] ");
}

TEST(Shape, PadTrilTriuTileRepeat) {
  array a = iota({2, 2});
  EXPECT_EQ(vals(tx::pad(a, 1)),
            (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 3, 0, 0, 0, 0, 0}));
  EXPECT_EQ(vals(tx::pad(a, {1}, {0}, {2}, array(-1.0f))), (std::vector<float>{0, 1, -1, -1, 2, 3, -1, -1}));
  EXPECT_EQ(vals(tx::pad(tx::transpose(a), {{1, 0}, {0, 0}})), (std::vector<float>{0, 0, 0, 2, 1, 3}));
  expect_error<std::invalid_argument>([&] { tx::pad(a, {0}, {-1}, {0}); }, "[pad] ");
  array m = iota({3, 3}) + 1.0f;
  EXPECT_EQ(vals(tx::tril(m)), (std::vector<float>{1, 0, 0, 4, 5, 0, 7, 8, 9}));
  EXPECT_EQ(vals(tx::triu(m)), (std::vector<float>{1, 2, 3, 0, 5, 6, 0, 0, 9}));
  EXPECT_EQ(vals(tx::triu(m, 1)), (std::vector<float>{0, 2, 3, 0, 0, 6, 0, 0, 0}));
  EXPECT_EQ(vals(tx::tril(m, -1)), (std::vector<float>{0, 0, 0, 4, 0, 0, 7, 8, 0}));
  expect_error<std::invalid_argument>([] { tx::tril(iota({3})); }, "[tril] ");
  EXPECT_EQ(vals(tx::tile(array({1.0f, 2.0f}), {2})), (std::vector<float>{1, 2, 1, 2}));
  EXPECT_EQ(vals(tx::tile(a, {2, 1})), (std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(tx::tile(a, {2, 1, 3}).shape(), (Shape{2, 2, 6}));
  EXPECT_EQ(vals(tx::repeat(a, 2, 1)), (std::vector<float>{0, 0, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(vals(tx::repeat(a, 2, 0)), (std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3}));
  EXPECT_EQ(vals(tx::repeat(a, 2)), (std::vector<float>{0, 0, 1, 1, 2, 2, 3, 3}));
}

TEST(Shape, OneHotStopGradientCopy) {
  array oh = tx::one_hot(array({0, 2, 1}), 3);
  EXPECT_EQ(oh.shape(), (Shape{3, 3}));
  EXPECT_EQ(vals(oh), (std::vector<float>{1, 0, 0, 0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(tx::one_hot(array({1}), 2, tx::bfloat16).dtype(), tx::bfloat16);
  expect_error<std::invalid_argument>([] { tx::one_hot(array({1.0f}), 2); }, "[one_hot] ");
  array a = iota({2, 2});
  EXPECT_EQ(vals(tx::stop_gradient(a)), vals(a));
  array c = tx::copy(a);
  c.eval();
  a.eval();
  EXPECT_NE(c.data<float>(), a.data<float>());
  array t = tx::contiguous(tx::transpose(a));
  t.eval();
  EXPECT_TRUE(t.flags().row_contiguous);
  EXPECT_EQ(vals(t), (std::vector<float>{0, 2, 1, 3}));
  array same = tx::contiguous(a);
  same.eval();
  EXPECT_EQ(same.data<float>(), a.data<float>());
  array st = tx::as_strided(iota({6}), {2, 3}, {1, 1}, 1);
  EXPECT_EQ(vals(st), (std::vector<float>{1, 2, 3, 2, 3, 4}));
  expect_error<std::out_of_range>([] { tx::as_strided(iota({6}), {2, 3}, {3, 1}, 1); }, "[as_strided] ");
}

TEST(Shape, EveryDtypeThroughViewsAndCopies) {
  const tx::Dtype all[] = {tx::bool_, tx::uint8, tx::uint32, tx::int8, tx::int32,
                           tx::int64, tx::float16, tx::bfloat16, tx::float32};
  for (auto dt : all) {
    SCOPED_TRACE(tx::to_string(dt));
    array a = tx::astype(tx::reshape(array({0.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f}), {2, 3}), dt);
    EXPECT_EQ(vals(tx::transpose(a)), (std::vector<float>{0, 1, 1, 1, 0, 0}));
    EXPECT_EQ(vals(tx::concatenate({a, a}, 0)).size(), 12u);
    EXPECT_EQ(vals(tx::pad(a, 1)).size(), 20u);
    EXPECT_EQ(vals(tx::slice_update(a, tx::astype(array(1.0f), dt), {0, 0}, {1, 1})),
              (std::vector<float>{1, 1, 0, 1, 1, 0}));
    EXPECT_EQ(tx::contiguous(tx::transpose(a)).dtype(), dt);
  }
}

TEST(Shape, Vjps) {
  using tx::testing::check_vjp;
  array a = iota({2, 3}) * 0.3f + 0.1f;
  array b = iota({2, 2}) * 0.5f - 0.4f;
  check_vjp([](const std::vector<array>& x) { return tx::reshape(x[0], {3, 2}) * 2.0f; }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::transpose(x[0]) * tx::transpose(x[0]); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::broadcast_to(x[0], {4, 2, 3}) * 1.5f; }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::slice(x[0], {0, 0}, {2, 3}, {1, 2}); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::slice_update(x[0], x[1], {0, 1}, {2, 3}); }, {a, b});
  check_vjp([](const std::vector<array>& x) {
    return tx::slice_update(x[0], tx::slice(x[1], {0, 0}, {1, 2}), {1, 0}, {2, 3}, {1, 2});
  }, {a, b});
  check_vjp([](const std::vector<array>& x) { return tx::concatenate({x[0], x[1], x[0]}, 1); }, {a, b});
  check_vjp([](const std::vector<array>& x) { return tx::stack({x[0], x[0] * 2.0f}, 0); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::split(x[0], 3, 1)[1]; }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::pad(x[0], {1}, {1}, {2}, array(3.0f)); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::tril(x[0]) + tx::triu(x[0], 1) * 2.0f; }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::tile(x[0], {2, 2}); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::repeat(x[0], 2, 0); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::squeeze(tx::expand_dims(x[0], 0), 0) * x[0]; }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::moveaxis(tx::expand_dims(x[0], 2), 2, 0); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::full({3, 2, 3}, x[0]); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::clip(x[0], array(0.5f), array(1.2f)); }, {a});
  check_vjp([](const std::vector<array>& x) { return tx::contiguous(tx::transpose(x[0])) + tx::copy(x[0] * 0.0f); },
            {iota({3, 3}) * 0.1f});
}

TEST(Shape, LargeTransposedCopies) {
  // Big enough for the tiled transpose path, with ragged tile edges and a batch axis.
  array a = iota({3, 70, 45});
  array t = tx::contiguous(tx::swapaxes(a, 1, 2));
  auto got = vals(t);
  auto src = vals(a);
  for (int b = 0; b < 3; ++b) {
    for (int i = 0; i < 45; ++i) {
      for (int j = 0; j < 70; ++j) ASSERT_EQ(got[(b * 45 + i) * 70 + j], src[(b * 70 + j) * 45 + i]);
    }
  }
  array h = tx::astype(tx::transpose(iota({64, 96})), tx::bfloat16);
  auto hv = vals(h);
  for (int i = 0; i < 96; ++i) {
    for (int j = 0; j < 64; ++j) ASSERT_EQ(hv[i * 64 + j], static_cast<float>(tx::bfloat16_t(j * 96.0f + i)));
  }
}

// A contiguous copy large enough to be split over the threads (in pieces of 1 MiB) copies every
// element into a new buffer, for 2- and 4-byte types and a length that leaves a short last piece.
TEST(Shape, LongContiguousCopyIsExact) {
  for (tx::Dtype dtype : {tx::bfloat16, tx::float32}) {
    const int n = (3 << 20) / 2 + 77;
    tx::array a = tx::astype(tx::arange(0, n, 1), dtype);
    a.eval();
    tx::array b = tx::copy(a);
    b.eval();
    EXPECT_NE(b.data<void>(), a.data<void>());
    EXPECT_EQ(tx::astype(a, tx::float32).to_vector<float>(), tx::astype(b, tx::float32).to_vector<float>())
        << tx::to_string(dtype);
  }
}
