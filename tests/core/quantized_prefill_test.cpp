// quantized_matmul with many rows of x (prefill and the QLoRA x-gradient), and the few rows
// that bfloat16 activations also send down that path, for every bit width and group size,
// float32, bfloat16 and float16 activations, x · W^T and x · W, against matmul with the
// dequantized matrix. The shapes make the products span several column tiles (some
// starting inside a group) and several blocks of the reduction.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/quantized_int8.h"
#include "core/numeric_test_util.h"
#include "tessera/quantized.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

// Reduction length: more than one 1024-element block of the bf16 kernel.
constexpr int64_t kDepth = 1152;

// Output columns: not a multiple of the largest group, so column tiles start inside groups.
int64_t out_columns(int gs) { return gs == 128 ? 640 : 320; }

// Whether quantized_matmul_t hands these rows to the few-row int8 kernel (which rounds x).
bool int8_rows(const array& w, int64_t M, int gs, int bits, int64_t K) {
  cpu::QuantizedMatrix m{w.data<uint32_t>(), nullptr, nullptr, cpu::ScaleType::float32, w.shape(0), K, gs, bits};
  return cpu::qint8::supports(m) && M <= cpu::qint8::max_rows(m);
}

// |got - want| <= out_rel * |want| + rel * (|x| · |W|), elementwise: out_rel covers the rounding
// of a bf16 result, rel the float sums (and the int8 rounding of x where that kernel runs).
void expect_product_close(const array& got, const array& want, const array& abs_product, float out_rel, float rel,
                          const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<float> g = astype(got, float32).to_vector<float>();
  std::vector<float> w = want.to_vector<float>();
  std::vector<float> a = abs_product.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], out_rel * std::abs(w[i]) + rel * a[i]) << what << " element " << i;
}

void check_products(Dtype dtype) {
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      const int64_t N = out_columns(gs);
      const uint32_t seed = static_cast<uint32_t>(bits * 1000 + gs);
      // x · W^T with W [N, kDepth], and x · W with W [kDepth, N].
      auto [wt, st, bt] = quantize(testing::random_array({N, kDepth}, seed, dtype), gs, bits);
      auto [wn, sn, bn] = quantize(testing::random_array({kDepth, N}, seed + 1, dtype), gs, bits);
      eval(wt, st, bt, wn, sn, bn);
      // The weights as the kernels multiply them: q * scale + bias in float32, rounded to bf16
      // on the bf16 GEMM path (the few-row kernel keeps them in float32).
      auto exact = [&](const array& w, const array& s, const array& b) {
        return dequantize(w, astype(s, float32), astype(b, float32), gs, bits);
      };
      auto rounded = [&](const array& wd) { return dtype == bfloat16 ? astype(astype(wd, bfloat16), float32) : wd; };
      const array wdt_exact = transpose(exact(wt, st, bt));
      const array wdt_rounded = rounded(wdt_exact);
      const array wdn = rounded(exact(wn, sn, bn));
      for (int64_t M : {1, 3, 9, 33, 64, 200}) {
        const std::string what = to_string(dtype) + " bits " + std::to_string(bits) + " gs " + std::to_string(gs) +
                                 " M " + std::to_string(M);
        const array x = testing::random_array({M, kDepth}, static_cast<uint32_t>(M) + seed, dtype);
        const array xf = astype(x, float32);
        // The result's own rounding; float16 products drop the lo·lo term of the split bf16 GEMM
        // (below 2^-16 of each product).
        const float out_rel = dtype == bfloat16 ? 1.0f / 256 : dtype == float16 ? 1.0f / 1024 : 0.0f;
        const float sums_rel = dtype == float16 ? 4e-5f : 1e-5f;
        const bool few_rows = int8_rows(wt, M, gs, bits, kDepth);
        const float rel = few_rows ? 3e-4f : sums_rel;
        const array& wdt = few_rows ? wdt_exact : wdt_rounded;
        expect_product_close(quantized_matmul(x, wt, st, bt, true, gs, bits), matmul(xf, wdt),
                             matmul(abs(xf), abs(wdt)), out_rel, rel, what + " x·W^T");
        expect_product_close(quantized_matmul(x, wn, sn, bn, false, gs, bits), matmul(xf, wdn),
                             matmul(abs(xf), abs(wdn)), out_rel, sums_rel, what + " x·W");
      }
    }
  }
}

TEST(QuantizedMatmulManyRows, Float32EqualsMatmulWithDequantizedWeight) { check_products(float32); }

TEST(QuantizedMatmulManyRows, Bfloat16EqualsMatmulWithBfloat16DequantizedWeight) { check_products(bfloat16); }

TEST(QuantizedMatmulManyRows, Float16EqualsMatmulWithDequantizedWeight) { check_products(float16); }

}  // namespace
}  // namespace tessera
