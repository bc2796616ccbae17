// The few-row quantized product (src/backend/cpu/quantized_int8.h) through quantized_matmul:
// every row count it takes and the first it hands to the dequantizing path, both forms of x
// (int8 terms for float x, exact bfloat16 for bf16-valued x with 4-bit weights), group sizes
// 32 to 128, row lengths with a partial step of 16 groups, weight row counts that leave tiles
// short, and rows that it does not take (K not a whole chunk).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/quantized_int8.h"
#include "core/numeric_test_util.h"
#include "core/quantized_test_util.h"
#include "tessera/quantized.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

// The float32 values of a that bfloat16 holds exactly.
array bf16_valued(const array& a) { return astype(astype(a, bfloat16), float32); }

// Per element of w [N, K]: its group's scale.
array expanded_scales(const array& scales, int64_t K, int group_size) {
  const int64_t N = scales.shape(0), G = scales.shape(1);
  return reshape(broadcast_to(reshape(astype(scales, float32), {N, G, 1}), {N, G, group_size}), {N, K});
}

// The bf16 form multiplies exactly and sums x (128 + q) scale in float32: a relative 2^-16 of
// the magnitudes summed covers the float32 sums of a row of up to a few thousand elements.
array bf16_form_bound(const array& x, const array& wd, const array& scales, int group_size) {
  const int64_t K = x.shape(-1);
  array magnitude = abs(wd) + array(128.0f) * abs(expanded_scales(scales, K, group_size));
  return matmul(abs(x), transpose(magnitude)) * array(1.0f / 65536.0f) + array(1e-6f);
}

void expect_within(const array& got, const array& want, const array& bound, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>(), b = bound.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], b[i]) << what << " element " << i;
}

struct Weights {
  array w, scales, biases, dequantized;
};

Weights make_weights(int64_t N, int64_t K, int group_size, int bits, Dtype dtype, uint32_t seed) {
  auto [w, s, b] = quantize(testing::random_array({N, K}, seed, dtype), group_size, bits);
  // In float32 from the 16-bit scales, as the kernel computes it.
  array wd = dequantize(w, astype(s, float32), astype(b, float32), group_size, bits);
  return {w, s, b, wd};
}

std::string describe(int bits, int gs, int64_t K, int64_t M) {
  return "bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " K " + std::to_string(K) + " M " +
         std::to_string(M);
}

// An activation outlier that only its own block of 32 absorbs in the int8 form.
array x_with_outlier(int64_t M, int64_t K, uint32_t seed) {
  std::vector<float> v = testing::random_array({M, K}, seed).to_vector<float>();
  v[K / 2 + 5] = 24.0f;
  return bf16_valued(array(v, {M, K}, float32));
}

// The most rows of x that the few-row kernel takes.
int64_t kernel_rows(const Weights& wt, int64_t K, int gs, int bits) {
  cpu::QuantizedMatrix m{wt.w.data<uint32_t>(), nullptr, nullptr, cpu::ScaleType::float32, wt.w.shape(0), K, gs, bits};
  return cpu::qint8::supports(m) ? cpu::qint8::max_rows(m) : 0;
}

TEST(QuantizedInt8, Bf16ValuedRowsOf4BitProductsAreExactUpToFloatSums) {
  for (int gs : {32, 64, 128}) {
    for (int64_t K : {int64_t{384}, int64_t{2304}}) {
      const int64_t N = 19;
      Weights wt = make_weights(N, K, gs, 4, float32, static_cast<uint32_t>(gs + K));
      const int64_t kernel = kernel_rows(wt, K, gs, 4);
      for (int64_t M = 1; M <= kernel + 1; ++M) {
        array x = x_with_outlier(M, K, static_cast<uint32_t>(M * 7 + gs));
        array got = quantized_matmul(x, wt.w, wt.scales, wt.biases, true, gs, 4);
        array want = matmul(x, transpose(wt.dequantized));
        // One row takes the int8 form, rows past the kernel's limit the dequantizing path: both
        // within the int8 form's bound; the bf16 form is held to float rounding.
        array bound = M == 1 || M > kernel ? testing::int8_activation_bound(x, wt.dequantized)
                                       : bf16_form_bound(x, wt.dequantized, wt.scales, gs);
        expect_within(got, want, bound, describe(4, gs, K, M));
      }
    }
  }
}

TEST(QuantizedInt8, FloatRowsTakeTheInt8FormAtEveryRowCount) {
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      const int64_t K = bits == 4 ? 1152 : 640, N = 13;
      Weights wt = make_weights(N, K, gs, bits, bfloat16, static_cast<uint32_t>(bits * gs));
      for (int64_t M : {1, 2, 3, 5, 8, 9, 11, 16, 17}) {
        std::vector<float> v = testing::random_array({M, K}, static_cast<uint32_t>(M + bits)).to_vector<float>();
        v[K / 3] = -30.0f;
        array x(v, {M, K}, float32);
        array got = quantized_matmul(x, wt.w, wt.scales, wt.biases, true, gs, bits);
        expect_within(got, matmul(x, transpose(wt.dequantized)), testing::int8_activation_bound(x, wt.dequantized),
                      describe(bits, gs, K, M));
      }
    }
  }
}

// Rows of 4 KiB or more are read one weight row at a time with one row of x.
TEST(QuantizedInt8, LongRowsOfOneXRow) {
  for (int bits : {3, 4, 6, 8}) {
    const int64_t K = (4096 * 8 / bits / 128 + 1) * 128, N = 7;  // just over 4 KiB per packed row
    ASSERT_GE(K * bits / 8, 4096);
    Weights wt = make_weights(N, K, 64, bits, bfloat16, static_cast<uint32_t>(bits));
    for (int64_t M : {1, 2}) {
      array x = testing::random_array({M, K}, static_cast<uint32_t>(M + 40), float32);
      array got = quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, bits);
      expect_within(got, matmul(x, transpose(wt.dequantized)), testing::int8_activation_bound(x, wt.dequantized),
                    describe(bits, 64, K, M));
    }
  }
}

// 2-, 3-, 5- and 6-bit fields unpack with AVX-512 VBMI where the CPU has it and with AVX-512 BW
// elsewhere: both give the same products.
TEST(QuantizedInt8, FieldUnpackingWithAndWithoutVbmiAgree) {
  const int64_t N = 9, K = 640;
  for (int bits : {2, 3, 5, 6}) {
    Weights wt = make_weights(N, K, 64, bits, float32, static_cast<uint32_t>(bits + 60));
    eval(wt.w, wt.scales, wt.biases);
    const cpu::QuantizedMatrix m{wt.w.data<uint32_t>(), wt.scales.data<float>(), wt.biases.data<float>(),
                                 cpu::ScaleType::float32, N, K, 64, bits};
    for (int64_t M : {1, 3}) {
      const std::vector<float> x = testing::random_array({M, K}, static_cast<uint32_t>(M + 70)).to_vector<float>();
      std::vector<float> y(M * N), y_bw(M * N);
      cpu::qint8::gemv(x.data(), M, m, y.data());
      cpu::qint8::gemv_avx512_bw(x.data(), M, m, y_bw.data());
      EXPECT_EQ(y, y_bw) << describe(bits, 64, K, M);
      expect_within(array(y_bw, {M, N}, float32), matmul(array(x, {M, K}, float32), transpose(wt.dequantized)),
                    testing::int8_activation_bound(array(x, {M, K}, float32), wt.dequantized), describe(bits, 64, K, M));
    }
  }
}

// gemv itself takes any number of rows (several passes of 8 over blocks of weight rows), beyond
// the rows quantized_matmul hands it.
TEST(QuantizedInt8, GemvTakesRowsBeyondOnePass) {
  const int64_t N = 21, K = 1024;
  for (int bits : {4, 8}) {
    Weights wt = make_weights(N, K, 64, bits, float32, static_cast<uint32_t>(bits + 40));
    eval(wt.w, wt.scales, wt.biases);
    const cpu::QuantizedMatrix m{wt.w.data<uint32_t>(), wt.scales.data<float>(), wt.biases.data<float>(),
                                 cpu::ScaleType::float32, N, K, 64, bits};
    ASSERT_TRUE(cpu::qint8::supports(m));
    for (bool bf16_x : {false, true}) {
      for (int64_t M : {9, 16, 19}) {
        array x = x_with_outlier(M, K, static_cast<uint32_t>(M + bits));
        if (!bf16_x) x = x + array(1e-3f);  // no longer bfloat16 values: the int8 form
        x.eval();
        std::vector<float> y(static_cast<size_t>(M * N));
        cpu::qint8::gemv(x.data<float>(), M, m, y.data());
        const bool exact = bf16_x && bits == 4;
        array bound = exact ? bf16_form_bound(x, wt.dequantized, wt.scales, 64) : testing::int8_activation_bound(x, wt.dequantized);
        expect_within(array(y, {M, N}, float32), matmul(x, transpose(wt.dequantized)), bound,
                      describe(bits, 64, K, M) + (bf16_x ? " bf16 x" : " float x"));
      }
    }
  }
}

// One non-bfloat16 element anywhere sends all rows to the int8 form: still within its bound.
TEST(QuantizedInt8, OneInexactElementKeepsTheInt8Form) {
  const int64_t K = 512, N = 8;
  Weights wt = make_weights(N, K, 64, 4, float32, 5);
  std::vector<float> v = bf16_valued(testing::random_array({4, K}, 6)).to_vector<float>();
  v[3 * K + 100] = 0.1234567f;
  array x(v, {4, K}, float32);
  expect_within(quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, 4), matmul(x, transpose(wt.dequantized)),
                testing::int8_activation_bound(x, wt.dequantized), "inexact");
}

// Rows that are not whole chunks (128 elements at 4 bits, 64 at 8) stay on the float path.
TEST(QuantizedInt8, PartialChunksFallBackToTheFloatPath) {
  for (int bits : {4, 8}) {
    const int64_t K = bits == 4 ? 192 : 96, N = 6;
    Weights wt = make_weights(N, K, 32, bits, float32, 8);
    for (int64_t M : {1, 4}) {
      array x = testing::random_array({M, K}, 9);
      std::vector<float> got = quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 32, bits).to_vector<float>();
      std::vector<float> want = matmul(x, transpose(wt.dequantized)).to_vector<float>();
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 1e-4f + 1e-4f * std::abs(want[i])) << describe(bits, 32, K, M);
    }
  }
}

}  // namespace
}  // namespace tessera
