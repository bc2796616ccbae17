// The product of one row of x with a quantized matrix in its decode layout
// (src/backend/cpu/quantized_decode.h): every bit width, group size and scale type it takes,
// through quantized_matmul and against the kernel in MLX's layout; the layout follows the
// scales and biases it copied, is not made for views, and its memory goes with the matrix.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/quantized_decode.h"
#include "backend/cpu/quantized_int8.h"
#include "core/numeric_test_util.h"
#include "core/quantized_test_util.h"
#include "tessera/memory.h"
#include "tessera/quantized.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

struct Weights {
  array w, scales, biases;
};

Weights make_weights(int64_t N, int64_t K, int group_size, int bits, Dtype dtype, uint32_t seed) {
  auto [w, s, b] = quantize(testing::random_array({N, K}, seed, dtype), group_size, bits);
  eval(w, s, b);
  return {w, s, b};
}

// In float32 from the stored scales, as the kernels compute it.
array dequantized(const Weights& wt, int group_size, int bits) {
  return dequantize(wt.w, astype(wt.scales, float32), astype(wt.biases, float32), group_size, bits);
}

cpu::ScaleType scale_type(Dtype d) {
  if (d == bfloat16) return cpu::ScaleType::bfloat16;
  if (d == float16) return cpu::ScaleType::float16;
  return cpu::ScaleType::float32;
}

cpu::QuantizedMatrix matrix(const Weights& wt, int64_t K, int group_size, int bits) {
  return {wt.w.data<uint32_t>(), wt.scales.data<void>(), wt.biases.data<void>(), scale_type(wt.scales.dtype()),
          wt.w.shape(0),         K,                      group_size,              bits};
}

// One row of x with an outlier that only its own block of 32 absorbs.
array x_row(int64_t K, uint32_t seed) {
  std::vector<float> v = testing::random_array({1, K}, seed).to_vector<float>();
  v[K / 2 + 3] = -20.0f;
  return array(v, {1, K}, float32);
}

std::string describe(int bits, int gs, Dtype dtype) {
  return "bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " " + to_string(dtype);
}

void expect_within(const array& got, const array& want, const array& bound, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>(), b = bound.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], b[i]) << what << " element " << i;
}

class QuantizedDecode : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::cpu_takes_decode_layout()) GTEST_SKIP() << "the decode layout needs AVX-512 VNNI";
  }
};

TEST_F(QuantizedDecode, OneRowMatchesTheFloatProductForEveryWidthGroupSizeAndScaleType) {
  for (int bits : {4, 8}) {
    for (int gs : {32, 64, 128}) {
      for (Dtype dtype : {float32, bfloat16, float16}) {
        const int64_t N = 6, K = 2 * 16 * gs;  // two steps of 16 groups
        Weights wt = make_weights(N, K, gs, bits, dtype, static_cast<uint32_t>(bits * gs));
        ASSERT_TRUE(cpu::qdecode::supports(matrix(wt, K, gs, bits)));
        array x = x_row(K, static_cast<uint32_t>(gs + bits));
        array wd = dequantized(wt, gs, bits);
        array got = astype(quantized_matmul(x, wt.w, wt.scales, wt.biases, true, gs, bits), float32);
        // Products in 16-bit types round once more at the end.
        array bound = testing::int8_activation_bound(x, wd) +
                      (dtype == float32 ? array(0.0f) : abs(matmul(x, transpose(wd))) * array(1.0f / 128.0f));
        expect_within(got, matmul(x, transpose(wd)), bound, describe(bits, gs, dtype));
      }
    }
  }
}

// Both layouts round x the same way: the products differ by float summation order only.
TEST_F(QuantizedDecode, AgreesWithTheKernelInMlxLayout) {
  for (int bits : {4, 8}) {
  for (int gs : {32, 64, 128}) {
    const int64_t N = 10, K = 3 * 16 * gs;
    Weights wt = make_weights(N, K, gs, bits, bfloat16, static_cast<uint32_t>(gs + bits));
    const cpu::QuantizedMatrix m = matrix(wt, K, gs, bits);
    std::vector<std::byte> storage(cpu::qdecode::layout_bytes(m) + 64);
    auto* layout = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) / 64 * 64);
    cpu::qdecode::write_layout(m, layout);
    const std::vector<float> x = x_row(K, static_cast<uint32_t>(gs + bits)).to_vector<float>();
    std::vector<float> got(N), want(N);
    cpu::qdecode::gemv(x.data(), 1, m, layout, got.data(), cpu::qdecode::XForm::float32);
    cpu::qint8::gemv(x.data(), 1, m, want.data());
    const std::vector<float> magnitude =
        matmul(abs(array(x, {1, K}, float32)), transpose(abs(dequantized(wt, gs, bits)))).to_vector<float>();
    for (int64_t n = 0; n < N; ++n)
      EXPECT_NEAR(got[n], want[n], magnitude[n] * 2e-6f) << describe(bits, gs, bfloat16) << " row " << n;
  }
  }
}

// A row of a batch gets exactly what it gets alone, at every batch size that takes the layout
// (past 8 rows in several passes), so batched generation follows each sequence's own tokens.
TEST_F(QuantizedDecode, EachRowOfABatchIsExactlyItsOwnProduct) {
  for (int bits : {4, 8}) {
    const int64_t N = 14, K = 16 * 64;
    Weights wt = make_weights(N, K, 64, bits, bfloat16, static_cast<uint32_t>(bits + 3));
    array wd = dequantized(wt, 64, bits);
    for (int64_t M : {2, 3, 4, 5, 7, 8, 9, 16}) {
      std::vector<float> v = testing::random_array({M, K}, static_cast<uint32_t>(M)).to_vector<float>();
      v[K + 7] = 30.0f;  // an outlier in row 1
      array x(v, {M, K}, float32);
      array batch = quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, bits);
      expect_within(astype(batch, float32), matmul(x, transpose(wd)),
                    testing::int8_activation_bound(x, wd) + abs(matmul(x, transpose(wd))) * array(1.0f / 128.0f),
                    describe(bits, 64, bfloat16) + " M " + std::to_string(M));
      const std::vector<float> rows = astype(batch, float32).to_vector<float>();
      for (int64_t m = 0; m < M; ++m) {
        array alone = quantized_matmul(slice(x, {static_cast<int>(m), 0}, {static_cast<int>(m) + 1, static_cast<int>(K)}),
                                       wt.w, wt.scales, wt.biases, true, 64, bits);
        const std::vector<float> own = astype(alone, float32).to_vector<float>();
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(rows[m * N + n], own[n]) << describe(bits, 64, bfloat16) << " M " << M << " row " << m;
      }
    }
  }
}

// At 4 bits, bfloat16 x takes the layout up to 32 rows (the bf16 form; quantized_decode.h): each
// row of such a product through quantized_matmul is exactly that row's own product.
TEST_F(QuantizedDecode, BfloatRowsUpToThirtyTwoAreEachTheirOwnProduct) {
  if (!__builtin_cpu_supports("avx512bf16")) GTEST_SKIP() << "the bf16 form needs AVX-512 BF16";
  const int64_t N = 10, K = 16 * 64;
  Weights wt = make_weights(N, K, 64, 4, bfloat16, 23);
  array wd = dequantized(wt, 64, 4);
  for (int64_t M : {17, 24, 32}) {
    array x = astype(testing::random_array({M, K}, static_cast<uint32_t>(M + 50)), bfloat16);
    array batch = astype(quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, 4), float32);
    array xf = astype(x, float32);
    expect_within(batch, matmul(xf, transpose(wd)), abs(matmul(xf, transpose(wd))) * array(1.0f / 128.0f) + 1e-3f,
                  "M " + std::to_string(M));
    const std::vector<float> rows = batch.to_vector<float>();
    for (int64_t m = 0; m < M; ++m) {
      array alone = quantized_matmul(slice(x, {static_cast<int>(m), 0}, {static_cast<int>(m) + 1, static_cast<int>(K)}),
                                     wt.w, wt.scales, wt.biases, true, 64, 4);
      const std::vector<float> own = astype(alone, float32).to_vector<float>();
      for (int64_t n = 0; n < N; ++n) ASSERT_EQ(rows[m * N + n], own[n]) << "M " << M << " row " << m;
    }
  }
}

// gemv takes several rows at 4 bits too (quantized_matmul hands it one): each row equal to its
// own product.
TEST_F(QuantizedDecode, FourBitRowsOfABatchThroughGemv) {
  const int64_t N = 6, K = 16 * 64;
  Weights wt = make_weights(N, K, 64, 4, bfloat16, 21);
  const cpu::QuantizedMatrix m = matrix(wt, K, 64, 4);
  std::vector<std::byte> storage(cpu::qdecode::layout_bytes(m) + 64);
  auto* layout = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) / 64 * 64);
  cpu::qdecode::write_layout(m, layout);
  for (int64_t M : {2, 5, 9}) {
    const std::vector<float> x = testing::random_array({M, K}, static_cast<uint32_t>(M + 30)).to_vector<float>();
    std::vector<float> batch(M * N), alone(N);
    cpu::qdecode::gemv(x.data(), M, m, layout, batch.data(), cpu::qdecode::XForm::float32);
    for (int64_t r = 0; r < M; ++r) {
      cpu::qdecode::gemv(x.data() + r * K, 1, m, layout, alone.data(), cpu::qdecode::XForm::float32);
      for (int64_t n = 0; n < N; ++n) ASSERT_EQ(batch[r * N + n], alone[n]) << "M " << M << " row " << r;
    }
  }
}

// The layout with its cols, in 64-byte aligned storage.
struct Layout {
  std::vector<std::byte> storage;
  std::byte* bytes;
  explicit Layout(const cpu::QuantizedMatrix& m) : storage(cpu::qdecode::layout_bytes(m) + 64) {
    bytes = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) / 64 * 64);
    cpu::qdecode::write_layout(m, bytes);
  }
};

// bfloat16 x (bf16_x) takes the bf16 form at 4 bits (on CPUs with AVX-512 BF16): weights
// and x multiplied exactly, only the float sums round. Its error stays far inside what rounding
// x to int8 terms gives (an outlier of 100 in a block of x costs those about 1e-5 of the
// magnitude), at every row count, and each row of a batch is exactly its own product.
TEST_F(QuantizedDecode, Bf16RowsAreMultipliedExactly) {
  if (!__builtin_cpu_supports("avx512bf16")) GTEST_SKIP() << "the bf16 form needs AVX-512 BF16";
  for (int gs : {32, 64, 128}) {
    for (Dtype dtype : {bfloat16, float16, float32}) {
      const int64_t N = 6, K = 2 * 16 * gs;
      Weights wt = make_weights(N, K, gs, 4, dtype, static_cast<uint32_t>(gs + 40));
      const cpu::QuantizedMatrix m = matrix(wt, K, gs, 4);
      const Layout layout(m);
      const std::vector<float> wd = dequantized(wt, gs, 4).to_vector<float>();
      for (int64_t M : {1, 3, 8, 11, 24}) {
        std::vector<float> x =
            astype(astype(testing::random_array({M, K}, static_cast<uint32_t>(M + gs)), bfloat16), float32)
                .to_vector<float>();
        x[K / 3] = 100.0f;
        std::vector<float> got(M * N), alone(N);
        cpu::qdecode::gemv(x.data(), M, m, layout.bytes, got.data(), cpu::qdecode::XForm::bf16);
        for (int64_t r = 0; r < M; ++r) {
          cpu::qdecode::gemv(x.data() + r * K, 1, m, layout.bytes, alone.data(), cpu::qdecode::XForm::bf16);
          for (int64_t n = 0; n < N; ++n) {
            double want = 0, magnitude = 0;
            for (int64_t k = 0; k < K; ++k) {
              want += static_cast<double>(wd[n * K + k]) * x[r * K + k];
              magnitude += std::abs(static_cast<double>(wd[n * K + k]) * x[r * K + k]);
            }
            const std::string what = describe(4, gs, dtype) + " M " + std::to_string(M) + " row " + std::to_string(r);
            ASSERT_NEAR(got[r * N + n], want, 2e-6 * magnitude) << what << " col " << n;
            ASSERT_EQ(got[r * N + n], alone[n]) << what << " col " << n;
          }
        }
      }
    }
  }
}

// The layout holds copies of the scales and biases: the same packed words with others give
// their product, and going back gives the first one again.
TEST_F(QuantizedDecode, FollowsTheScalesAndBiasesItIsGiven) {
  const int64_t N = 4, K = 16 * 64;
  Weights wt = make_weights(N, K, 64, 4, float32, 5);
  array x = x_row(K, 6);
  array scales2 = wt.scales * 2.0f, biases2 = wt.biases - 0.5f;
  eval(scales2, biases2);
  array wd = dequantized(wt, 64, 4);
  array wd2 = dequantize(wt.w, scales2, biases2, 64, 4);
  for (int round = 0; round < 2; ++round) {
    array y1 = quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, 4);
    expect_within(y1, matmul(x, transpose(wd)), testing::int8_activation_bound(x, wd), "first scales");
    array y2 = quantized_matmul(x, wt.w, scales2, biases2, true, 64, 4);
    expect_within(y2, matmul(x, transpose(wd2)), testing::int8_activation_bound(x, wd2), "second scales");
  }
}

// Rows of a matrix taken as a view, and an odd number of rows, take MLX's layout.
TEST_F(QuantizedDecode, ViewsAndOddRowCountsGiveTheSameProducts) {
  const int64_t N = 9, K = 16 * 32;
  Weights wt = make_weights(N, K, 32, 8, bfloat16, 8);
  array x = x_row(K, 9);
  for (auto [r0, r1] : {std::pair<int, int>{2, 8}, {0, 7}, {0, 9}}) {
    array w = slice(wt.w, {r0, 0}, {r1, wt.w.shape(1)});
    array s = slice(wt.scales, {r0, 0}, {r1, wt.scales.shape(1)});
    array b = slice(wt.biases, {r0, 0}, {r1, wt.biases.shape(1)});
    array wd = dequantize(w, astype(s, float32), astype(b, float32), 32, 8);
    array got = astype(quantized_matmul(x, w, s, b, true, 32, 8), float32);
    array bound = testing::int8_activation_bound(x, wd) + abs(matmul(x, transpose(wd))) * array(1.0f / 128.0f);
    expect_within(got, matmul(x, transpose(wd)), bound, "rows " + std::to_string(r0) + "-" + std::to_string(r1));
  }
}

// The layout is counted as the matrix's memory and freed with it.
TEST_F(QuantizedDecode, LayoutMemoryGoesWithTheMatrix) {
  const int64_t N = 64, K = 16 * 64;
  array x = x_row(K, 10);
  const size_t before = get_active_memory();
  size_t with_layout = 0;
  {
    Weights wt = make_weights(N, K, 64, 4, bfloat16, 11);
    const size_t layout = cpu::qdecode::layout_bytes(matrix(wt, K, 64, 4));
    const size_t loaded = get_active_memory();
    quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, 4).eval();
    with_layout = get_active_memory();
    EXPECT_GE(with_layout, loaded + layout);
    quantized_matmul(x, wt.w, wt.scales, wt.biases, true, 64, 4).eval();  // made once
    EXPECT_LE(get_active_memory(), with_layout + 4096);
  }
  EXPECT_LE(get_active_memory(), before + 4096);
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// prepare_quantized_matmul makes the layout ahead of the first product, does nothing for
// matrices that do not take it, and names the fault in bad input.
TEST_F(QuantizedDecode, PrepareMakesTheLayoutAheadOfTheFirstProduct) {
  const int64_t N = 32, K = 16 * 64;
  Weights wt = make_weights(N, K, 64, 8, bfloat16, 12);
  const size_t before = get_active_memory();
  prepare_quantized_matmul(wt.w, wt.scales, wt.biases, 64, 8);
  const size_t prepared = get_active_memory();
  EXPECT_GE(prepared, before + cpu::qdecode::layout_bytes(matrix(wt, K, 64, 8)));
  quantized_matmul(x_row(K, 13), wt.w, wt.scales, wt.biases, true, 64, 8).eval();
  EXPECT_LE(get_active_memory(), prepared);

  Weights odd = make_weights(7, K, 64, 8, bfloat16, 14);  // an odd row count takes no layout
  const size_t odd_before = get_active_memory();
  prepare_quantized_matmul(odd.w, odd.scales, odd.biases, 64, 8);
  EXPECT_EQ(get_active_memory(), odd_before);

  EXPECT_THROW(prepare_quantized_matmul(reshape(wt.w, {-1}), wt.scales, wt.biases, 64, 8), std::invalid_argument);
  EXPECT_THROW(prepare_quantized_matmul(wt.w, wt.scales, wt.biases, 64, 4), std::invalid_argument);
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// Matrices prepared together share one block for their layouts: one allocation of their sum,
// none for a matrix that already has its layout or takes none, the products of each as if made
// alone, and the block freed with the last of them.
TEST_F(QuantizedDecode, MatricesPreparedTogetherShareOneBlock) {
  const int64_t K = 16 * 64;
  array x = x_row(K, 15);
  const size_t before = get_active_memory();
  {
    Weights a = make_weights(32, K, 64, 4, bfloat16, 16), b = make_weights(48, K, 64, 8, bfloat16, 17);
    Weights odd = make_weights(7, K, 64, 4, bfloat16, 18);
    std::vector<float> want_a = astype(quantized_matmul(x, a.w, a.scales, a.biases, true, 64, 4), float32).to_vector<float>();
    std::vector<float> want_b = astype(quantized_matmul(x, b.w, b.scales, b.biases, true, 64, 8), float32).to_vector<float>();
    {
      // Fresh copies of the packed words, so that the layouts made above do not count.
      std::optional<Weights> a2 = Weights{copy(a.w), a.scales, a.biases};
      Weights b2{copy(b.w), b.scales, b.biases};
      eval(a2->w, b2.w);
      const size_t loaded = get_active_memory();
      const size_t sum =
          cpu::qdecode::layout_bytes(matrix(*a2, K, 64, 4)) + cpu::qdecode::layout_bytes(matrix(b2, K, 64, 8));
      prepare_quantized_matmul({{a2->w, a2->scales, a2->biases, 64, 4}, {b2.w, b2.scales, b2.biases, 64, 8},
                                {odd.w, odd.scales, odd.biases, 64, 4}});
      const size_t prepared = get_active_memory();
      EXPECT_GE(prepared, loaded + sum);
      EXPECT_LE(prepared, loaded + sum + 4096);
      prepare_quantized_matmul({{a2->w, a2->scales, a2->biases, 64, 4}});  // already made
      EXPECT_EQ(get_active_memory(), prepared);
      EXPECT_EQ(astype(quantized_matmul(x, a2->w, a2->scales, a2->biases, true, 64, 4), float32).to_vector<float>(),
                want_a);
      EXPECT_EQ(astype(quantized_matmul(x, b2.w, b2.scales, b2.biases, true, 64, 8), float32).to_vector<float>(),
                want_b);
      const size_t a2_words = a2->w.nbytes();
      a2.reset();
      // b2 still holds the block: only a2's packed words went.
      EXPECT_GE(get_active_memory() + a2_words + 4096, prepared);
      EXPECT_EQ(astype(quantized_matmul(x, b2.w, b2.scales, b2.biases, true, 64, 8), float32).to_vector<float>(),
                want_b);
    }
  }
  EXPECT_LE(get_active_memory(), before + 4096);
}

}  // namespace
}  // namespace tessera
