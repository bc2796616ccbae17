// quantized_matmul with int8_activations: few rows of x times W^T from the decode layout, with x
// rounded to one int8 step of max |x| / 127 per group of W. Checked against that definition
// computed in double, row by row against the same rows in a batch of any size (prefill included),
// and against the exact product (an error that is there and small); the gradient stays exact.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/numeric_test_util.h"
#include "core/quantized_test_util.h"
#include "tessera/quantized.h"
#include "tessera/tessera.h"
#include "tessera/transforms.h"

namespace tessera {
namespace {

struct Weights {
  array w, scales, biases;
  int group_size, bits;
  array product(const array& x, bool int8_activations) const {
    return quantized_matmul(x, w, scales, biases, true, group_size, bits, int8_activations);
  }
};

Weights make_weights(int64_t N, int64_t K, int group_size, int bits, Dtype dtype, uint32_t seed) {
  auto [w, s, b] = quantize(testing::random_array({N, K}, seed, dtype), group_size, bits);
  eval(w, s, b);
  return {w, s, b, group_size, bits};
}

// Rows of x with an outlier in row 0 that only its own group absorbs.
array x_rows(int64_t M, int64_t K, uint32_t seed) {
  std::vector<float> v = testing::random_array({M, K}, seed).to_vector<float>();
  v[K / 2 + 3] = -20.0f;
  return array(v, {M, K}, float32);
}

std::string describe(int bits, int gs, Dtype scales, int64_t M) {
  return "bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " scales " + to_string(scales) + " M " +
         std::to_string(M);
}

// The definition, in double: per group g of a row, x = dx * t with dx = max |x_g| / 127 and
// t = round(x * 127 / max |x_g|), and y = sum_g scale_g * dx * (q_g · t_g) + bias_g * sum x_g.
// Also returns, per element of y, the magnitude of its terms (for the float-rounding bound).
std::pair<std::vector<double>, std::vector<double>> reference(const array& x, const Weights& wt) {
  const int64_t M = x.shape(0), K = x.shape(1), N = wt.w.shape(0), gs = wt.group_size;
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<float> q =
      dequantize(wt.w, ones(wt.scales.shape(), float32), zeros(wt.biases.shape(), float32), gs, wt.bits)
          .to_vector<float>();
  const std::vector<float> s = astype(wt.scales, float32).to_vector<float>();
  const std::vector<float> b = astype(wt.biases, float32).to_vector<float>();
  std::vector<double> y(M * N, 0.0), magnitude(M * N, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < K / gs; ++g) {
      const float* xg = xv.data() + m * K + g * gs;
      float amax = 0.0f;
      double sum = 0.0;
      for (int64_t i = 0; i < gs; ++i) {
        amax = std::max(amax, std::fabs(xg[i]));
        sum += xg[i];
      }
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f, dx = amax / 127.0f;
      for (int64_t n = 0; n < N; ++n) {
        double dot = 0.0, dot_abs = 0.0;
        for (int64_t i = 0; i < gs; ++i) {
          const double t = std::nearbyint(xg[i] * inv);
          dot += q[n * K + g * gs + i] * t;
          dot_abs += std::fabs(q[n * K + g * gs + i] * t);
        }
        const double sg = s[n * (K / gs) + g], bg = b[n * (K / gs) + g];
        y[m * N + n] += sg * dx * dot + bg * sum;
        magnitude[m * N + n] += std::fabs(sg * dx) * dot_abs + std::fabs(bg * sum);
      }
    }
  return {y, magnitude};
}

class QuantizedInt8Activations : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::cpu_takes_decode_layout()) GTEST_SKIP() << "the decode layout needs AVX-512 VNNI";
  }
};

TEST_F(QuantizedInt8Activations, ProductIsThatOfXRoundedToInt8PerGroup) {
  for (int bits : {4, 8})
    for (int gs : {32, 64, 128})
      for (Dtype scales : {float32, bfloat16})
        for (int64_t M : {1, 3}) {
          const int64_t N = 6, K = 2 * 16 * gs;  // two steps of 16 groups
          const Weights wt = make_weights(N, K, gs, bits, scales, static_cast<uint32_t>(bits * gs + M));
          const array x = x_rows(M, K, static_cast<uint32_t>(gs + bits));
          const std::vector<float> got = astype(wt.product(x, true), float32).to_vector<float>();
          const auto [want, magnitude] = reference(x, wt);
          // bfloat16 scales give a bfloat16 result: one more rounding at the end.
          const double rounding = scales == float32 ? 1e-5 : 1.0 / 128.0;
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_NEAR(got[i], want[i], rounding * magnitude[i] + 1e-5)
                << describe(bits, gs, scales, M) << " element " << i;
        }
}

// Batched generation relies on this: at every number of rows (past 8 in several passes; prefill
// takes the same kernel), a row gets exactly what it gets alone.
TEST_F(QuantizedInt8Activations, EachRowOfABatchIsExactlyItsOwnProduct) {
  for (int bits : {4, 8}) {
    const int64_t N = 14, K = 16 * 64;
    const Weights wt = make_weights(N, K, 64, bits, bfloat16, static_cast<uint32_t>(bits + 5));
    for (int64_t M : {2, 5, 8, 9, 16, 33, 64}) {
      for (Dtype dtype : {float32, bfloat16}) {
        const array x = astype(x_rows(M, K, static_cast<uint32_t>(M)), dtype);
        const std::vector<float> batch = astype(wt.product(x, true), float32).to_vector<float>();
        for (int64_t r = 0; r < M; ++r) {
          const array row = slice(x, {r, 0}, {r + 1, K});
          const std::vector<float> alone = astype(wt.product(row, true), float32).to_vector<float>();
          for (int64_t n = 0; n < N; ++n)
            ASSERT_EQ(batch[r * N + n], alone[n]) << describe(bits, 64, bfloat16, M) << " " << to_string(dtype)
                                                  << " row " << r << " column " << n;
        }
      }
    }
  }
}

// The rounding is real and of the documented size: an rms error of about 1 % of a 4-bit
// product of normal x, where the exact forms give 0.006 %.
TEST_F(QuantizedInt8Activations, ErrorAgainstTheExactProductIsAboutOnePercent) {
  const int64_t N = 256, K = 2048;
  const Weights wt = make_weights(N, K, 64, 4, bfloat16, 11);
  const array x = testing::random_array({1, K}, 12);
  const std::vector<float> exact = wt.product(x, false).to_vector<float>();
  const std::vector<float> rounded = wt.product(x, true).to_vector<float>();
  double error = 0.0, norm = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    error += (rounded[n] - exact[n]) * (rounded[n] - exact[n]);
    norm += exact[n] * exact[n];
  }
  const double relative = std::sqrt(error / norm);
  EXPECT_GT(relative, 1e-3);
  EXPECT_LT(relative, 3e-2);
}

TEST(QuantizedInt8ActivationsExact, TheGradientStaysExact) {
  const int64_t K = 16 * 64;
  const Weights wt = make_weights(24, K, 64, 4, float32, 21);
  const array one = x_rows(1, K, 23);
  auto loss = [&](bool int8_activations) {
    return [&wt, int8_activations](const array& x) { return sum(wt.product(x, int8_activations)); };
  };
  EXPECT_EQ(grad(loss(true))(one).to_vector<float>(), grad(loss(false))(one).to_vector<float>());
}

}  // namespace
}  // namespace tessera
