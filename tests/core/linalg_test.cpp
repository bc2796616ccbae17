// matmul / addmm / outer against a naive reference.
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

// Batched reference: a [batch, M, K] and b [batch, K, N] given row-major.
std::vector<float> naive_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t batch, int64_t M,
                                int64_t N, int64_t K) {
  std::vector<float> c(batch * M * N, 0.0f);
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += a[(p * M + i) * K + k] * b[(p * K + k) * N + j];
        c[(p * M + i) * N + j] = static_cast<float>(acc);
      }
  return c;
}

std::vector<float> values(array a) { return astype(contiguous(a), float32).to_vector<float>(); }

TEST(Matmul, TwoDimensional) {
  const array a = mat({1, 2, 3, 4, 5, 6}, {2, 3});
  const array b = mat({7, 8, 9, 10, 11, 12}, {3, 2});
  const array c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  expect_close(c, {58, 64, 139, 154});
  const array x = random_array({5, 7}, 1), y = random_array({7, 3}, 2);
  expect_close(matmul(x, y), naive_matmul(values(x), values(y), 1, 5, 3, 7));
}

TEST(Matmul, VectorsAndRowVectors) {
  const array v = mat({1, 2, 3}, {3});
  const array m = mat({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(matmul(v, m).shape(), (Shape{2}));
  expect_close(matmul(v, m), {22, 28});
  EXPECT_EQ(matmul(transpose(m), v).shape(), (Shape{2}));
  expect_close(matmul(transpose(m), v), {22, 28});
  EXPECT_EQ(matmul(v, v).shape(), (Shape{}));
  expect_close(matmul(v, v), {14});
  // One row (the GEMV path) against stored and transposed weights.
  const array w = random_array({6, 9}, 3);  // [N, K]
  const array x = random_array({1, 9}, 4);
  expect_close(matmul(x, transpose(w)), naive_matmul(values(x), values(transpose(w)), 1, 1, 6, 9));
  const array wk = random_array({9, 6}, 5);  // [K, N]
  expect_close(matmul(x, wk), naive_matmul(values(x), values(wk), 1, 1, 6, 9));
  expect_close(matmul(transpose(random_array({9, 1}, 6)), wk),
               naive_matmul(values(random_array({9, 1}, 6)), values(wk), 1, 1, 6, 9));
}

TEST(Matmul, BatchedWithBroadcast) {
  const array a = random_array({2, 1, 3, 4}, 7);
  const array b = random_array({5, 4, 2}, 8);
  const array c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 5, 3, 2}));
  const array ab = broadcast_to(a, {2, 5, 3, 4});
  const array bb = broadcast_to(b, {2, 5, 4, 2});
  expect_close(c, naive_matmul(values(ab), values(bb), 10, 3, 2, 4));
  // A 2-D operand broadcasts against a batch.
  const array w = random_array({4, 6}, 9);
  const array d = matmul(random_array({3, 2, 4}, 10), w);
  EXPECT_EQ(d.shape(), (Shape{3, 2, 6}));
  expect_close(d, naive_matmul(values(random_array({3, 2, 4}, 10)), values(broadcast_to(w, {3, 4, 6})), 3, 2, 6, 4));
}

TEST(Matmul, StridedInputs) {
  const array a = random_array({4, 6}, 11);
  const array b = random_array({5, 4}, 12);
  const auto ref = naive_matmul(values(transpose(a)), values(transpose(b)), 1, 6, 5, 4);
  expect_close(matmul(transpose(a), transpose(b)), ref);  // both column-major views
  // Every other column: no unit stride, so the kernel copies.
  const array wide = random_array({3, 8}, 13);
  const array cols = slice(wide, {0, 0}, {3, 8}, {1, 2});
  const array r = random_array({4, 2}, 14);
  expect_close(matmul(cols, r), naive_matmul(values(cols), values(r), 1, 3, 2, 4));
  // A sub-block with a leading dimension larger than its width.
  const array block = slice(random_array({6, 7}, 15), {1, 2}, {4, 6});
  expect_close(matmul(block, r), naive_matmul(values(block), values(r), 1, 3, 2, 4));
  // Transposed batch of heads, as attention uses.
  const array heads = transpose(random_array({2, 5, 3, 4}, 16), {0, 2, 1, 3});  // [2, 3, 5, 4]
  const array hk = swapaxes(heads, -1, -2);                                      // [2, 3, 4, 5]
  expect_close(matmul(heads, hk), naive_matmul(values(heads), values(hk), 6, 5, 5, 4));
}

TEST(Matmul, HalfPrecisionDtypes) {
  const array x = random_array({3, 16}, 17);
  const array y = random_array({16, 5}, 18);
  for (Dtype dt : {bfloat16, float16}) {
    const array xd = astype(x, dt), yd = astype(y, dt);
    const array c = matmul(xd, yd);
    EXPECT_EQ(c.dtype(), dt);
    // Reference: the rounded inputs multiplied exactly, then rounded once.
    expect_close(c, values(astype(astype(matmul(astype(xd, float32), astype(yd, float32)), dt), float32)),
                 dt == bfloat16 ? 1e-2f : 2e-3f);
    expect_close(matmul(xd, transpose(astype(transpose(y), dt))), values(c), 1e-6f);
  }
  EXPECT_EQ(matmul(astype(x, bfloat16), y).dtype(), float32);
}

// Float16 products convert B a panel of rows at a time (or read W in place for one row of x),
// and from 16 rows of A on run as split bf16 products: shapes with several panels along N
// (B = W^T) and along K (B stored [K, N]), a transposed A, and addmm's alpha and beta, against
// float32 products of the same rounded values.
TEST(Matmul, Float16AcrossPanels) {
  auto rounded = [](const array& a) { return astype(a, float16); };
  auto reference = [](const array& a, const array& b) {
    return values(astype(matmul(astype(a, float32), astype(b, float32)), float16));
  };
  const array w = rounded(random_array({300, 2051}, 21));  // Linear weight [N, K], K with a tail
  for (int64_t M : {1, 5, 20}) {
    const array x = rounded(random_array({M, 2051}, 22 + static_cast<uint32_t>(M)));
    const array c = matmul(x, transpose(w));
    ASSERT_EQ(c.dtype(), float16);
    expect_close(c, reference(x, transpose(w)), 2e-3f);
  }
  const array b = rounded(random_array({300, 2048}, 23));  // B [K, N]: panels split K
  const array a = rounded(random_array({4, 300}, 24));
  expect_close(matmul(a, b), reference(a, b), 2e-3f);
  for (int64_t M : {4, 20}) {
    const array at = rounded(random_array({300, M}, 25));  // A stored transposed
    expect_close(matmul(transpose(at), b), reference(transpose(at), b), 2e-3f);
  }
  for (int64_t M : {4, 20}) {
    const array a2 = rounded(random_array({M, 300}, 27));
    const array c0 = rounded(random_array({M, 2048}, 26));
    const std::vector<float> want =
        values(astype(addmm(astype(c0, float32), astype(a2, float32), astype(b, float32), 0.5f, 2.0f), float16));
    expect_close(addmm(c0, a2, b, 0.5f, 2.0f), want, 2e-3f);
  }
}

TEST(Matmul, EmptyShapes) {
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).shape(), (Shape{0, 4}));
  const array k0 = matmul(zeros({2, 0}), zeros({0, 3}));
  EXPECT_EQ(k0.shape(), (Shape{2, 3}));
  expect_close(k0, std::vector<float>(6, 0.0f));
  EXPECT_EQ(matmul(zeros({0, 2, 3}), zeros({3, 4})).shape(), (Shape{0, 2, 4}));
}

TEST(Matmul, BadInput) {
  expect_error<std::invalid_argument>([] { matmul(zeros({2, 3}), zeros({4, 5})); },
                                      "[matmul] Last dimension of first input with shape (2,3) must match second to "
                                      "last dimension of second input with shape (4,5).");
  expect_error<std::invalid_argument>([] { matmul(array(1.0f), zeros({2})); }, "[matmul] ");
  expect_error<std::invalid_argument>([] { matmul(zeros({2, 2}, int32), zeros({2, 2}, int32)); }, "[matmul] ");
  expect_error<std::invalid_argument>([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 4})); }, "[matmul] ");
}

TEST(Matmul, AddmmAndOuter) {
  const array c = mat({1, 1, 1, 1}, {2, 2});
  const array a = mat({1, 2, 3, 4}, {2, 2});
  const array b = mat({1, 0, 0, 1}, {2, 2});
  expect_close(addmm(c, a, b), {2, 3, 4, 5});
  expect_close(addmm(c, a, b, 2.0f, 0.5f), {2.5f, 4.5f, 6.5f, 8.5f});
  expect_close(addmm(mat({10, 20}, {2}), a, b), {11, 22, 13, 24});
  const array o = outer(mat({1, 2}, {2}), mat({3, 4, 5}, {3}));
  EXPECT_EQ(o.shape(), (Shape{2, 3}));
  expect_close(o, {3, 4, 5, 6, 8, 10});
}

TEST(MatmulGrad, Vjp) {
  check_vjp([](const std::vector<array>& v) { return matmul(v[0], v[1]); },
            {random_array({3, 4}, 21), random_array({4, 2}, 22)});
  check_vjp([](const std::vector<array>& v) { return matmul(v[0], v[1]); },
            {random_array({2, 1, 3, 4}, 23), random_array({3, 4, 2}, 24)});
  check_vjp([](const std::vector<array>& v) { return matmul(v[0], v[1]); },
            {random_array({4}, 25), random_array({4, 3}, 26)});
  check_vjp([](const std::vector<array>& v) { return matmul(v[0], transpose(v[1])); },
            {random_array({1, 5}, 27), random_array({3, 5}, 28)});
  check_vjp([](const std::vector<array>& v) { return addmm(v[0], v[1], v[2], 0.5f, 2.0f); },
            {random_array({3}, 29), random_array({2, 4}, 30), random_array({4, 3}, 31)});
  check_vjp([](const std::vector<array>& v) { return outer(v[0], v[1]); },
            {random_array({3}, 32), random_array({2}, 33)});
}

}  // namespace
}  // namespace tessera
