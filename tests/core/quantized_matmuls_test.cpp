// quantized_matmuls: the products of one x with several quantized matrices, each output bit for
// bit what quantized_matmul gives that matrix alone, whether the matrices go through the decode
// layout together (few rows, or any number with int8 activations) or one by one (more rows, or
// shapes the layout does not take); its gradients are those of the separate products.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/numeric_test_util.h"
#include "core/quantized_test_util.h"
#include "tessera/quantized.h"
#include "tessera/tessera.h"
#include "tessera/transforms.h"

namespace tessera {
namespace {

// Matrices of `rows` each over K columns, quantized with one group size and bits.
std::vector<PackedMatrix> make_matrices(const std::vector<int64_t>& rows, int64_t K, int group_size, int bits,
                                        Dtype dtype, uint32_t seed) {
  std::vector<PackedMatrix> out;
  for (int64_t n : rows) {
    auto [w, s, b] = quantize(testing::random_array({n, K}, seed++, dtype), group_size, bits);
    eval(w, s, b);
    out.push_back({w, s, b, group_size, bits});
  }
  return out;
}

void expect_each_output_is_its_own_product(const array& x, const std::vector<PackedMatrix>& ms, bool int8,
                                           const std::string& what) {
  const std::vector<array> together = quantized_matmuls(x, ms, int8);
  ASSERT_EQ(together.size(), ms.size()) << what;
  for (size_t i = 0; i < ms.size(); ++i) {
    const array alone = quantized_matmul(x, ms[i].w, ms[i].scales, ms[i].biases, true, ms[i].group_size, ms[i].bits, int8);
    EXPECT_EQ(together[i].shape(), alone.shape()) << what << ", matrix " << i;
    EXPECT_EQ(together[i].dtype(), alone.dtype()) << what << ", matrix " << i;
    EXPECT_EQ(together[i].to_vector<float>(), alone.to_vector<float>()) << what << ", matrix " << i;
  }
}

TEST(QuantizedMatmuls, EachOutputIsExactlyItsOwnProduct) {
  // 16 groups of 64 per row: the decode layout's shapes (q, k and v of a small model).
  const int64_t K = 16 * 64;
  for (int bits : {4, 8}) {
    for (Dtype dtype : {float32, bfloat16}) {
      const auto ms = make_matrices({96, 32, 32}, K, 64, bits, dtype, 3);
      for (int64_t M : {1, 3, 8, 11, 40}) {
        const array x = astype(testing::random_array({M, 1, K}, static_cast<uint32_t>(M)), dtype);
        for (bool int8 : {false, true}) {
          const std::string what = std::to_string(bits) + " bits, " + to_string(dtype) + ", " + std::to_string(M) +
                                   " rows" + (int8 ? ", int8" : "");
          expect_each_output_is_its_own_product(x, ms, int8, what);
        }
      }
    }
  }
}

TEST(QuantizedMatmuls, ShapesTheLayoutDoesNotTakeGoOneByOne) {
  // 8 groups per row (no decode layout), 3 bits (none either), and rows of x as a view.
  for (int bits : {3, 4}) {
    const auto ms = make_matrices({24, 8}, 512, 64, bits, bfloat16, 11);
    const array x = astype(testing::random_array({2, 512}, 12), bfloat16);
    expect_each_output_is_its_own_product(x, ms, false, std::to_string(bits) + " bits");
  }
  const auto ms = make_matrices({32, 32}, 16 * 32, 32, 4, float32, 13);
  const array view = transpose(testing::random_array({16 * 32, 4}, 14));
  expect_each_output_is_its_own_product(view, ms, true, "a transposed x");
}

TEST(QuantizedMatmuls, GradientsAreThoseOfTheSeparateProducts) {
  const int64_t K = 16 * 32;
  const auto ms = make_matrices({32, 16}, K, 32, 4, float32, 21);
  const array x = testing::random_array({3, K}, 22);
  const array r0 = testing::random_array({3, 32}, 23), r1 = testing::random_array({3, 16}, 24);
  auto fused = [&](const std::vector<array>& p) {
    std::vector<PackedMatrix> m = ms;
    m[0].scales = p[1];
    m[1].biases = p[2];
    const auto outs = quantized_matmuls(p[0], m);
    return sum(add(sum(multiply(outs[0], r0)), sum(multiply(outs[1], r1))));
  };
  auto separate = [&](const std::vector<array>& p) {
    const array y0 = quantized_matmul(p[0], ms[0].w, p[1], ms[0].biases, true, 32, 4);
    const array y1 = quantized_matmul(p[0], ms[1].w, ms[1].scales, p[2], true, 32, 4);
    return sum(add(sum(multiply(y0, r0)), sum(multiply(y1, r1))));
  };
  const std::vector<array> params{x, ms[0].scales, ms[1].biases};
  const auto a = grad(fused, {0, 1, 2})(params);
  const auto b = grad(separate, {0, 1, 2})(params);
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) testing::expect_same(a[i], b[i], 1e-5f);
}

TEST(QuantizedMatmuls, BadArgumentsAreRefused) {
  const auto ms = make_matrices({32, 32}, 512, 32, 4, float32, 31);
  const array x = testing::random_array({1, 512}, 32);
  testing::expect_error<std::invalid_argument>([&] { quantized_matmuls(x, {}); }, "[quantized_matmuls] No matrices");
  auto mixed = ms;
  mixed[1] = make_matrices({32}, 512, 64, 4, float32, 33)[0];
  testing::expect_error<std::invalid_argument>([&] { quantized_matmuls(x, mixed); },
                                               "[quantized_matmuls] Matrix 1 is quantized with 4 bits in groups of 64");
  testing::expect_error<std::invalid_argument>([&] { quantized_matmuls(testing::random_array({1, 256}, 34), ms); },
                                               "[quantized_matmuls] The last dimension of x (256)");
}

}  // namespace
}  // namespace tessera
