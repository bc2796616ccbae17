// The bf16 GEMM and the GEMV kernels against a float64 reference on the same bf16 values.
#include "backend/cpu/gemm_bf16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/cpu/gemv.h"
#include "tessera/half.h"

namespace tessera::cpu {
namespace {

// Random bf16 values in [-1, 1], stored as bit patterns.
std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint16_t> out(n);
  for (auto& v : out) v = detail::float_to_bf16_bits(dist(rng));
  return out;
}

float bf(uint16_t bits) { return detail::bf16_bits_to_float(bits); }

// Worst-case float32 summation error for K products whose magnitudes add up to sum_abs
// (plus the alpha/beta rounding): any indexing or packing bug gives errors far above it.
double tolerance(int64_t K, double sum_abs) { return (K + 4) * 1.2e-7 * sum_abs + 1e-12; }

struct GemmCase {
  bool trans_a, trans_b;
  int64_t M, N, K;
  float alpha = 1.0f, beta = 0.0f;
  int64_t pad = 0;  // extra elements per row in every leading dimension
};

void check_gemm(const GemmCase& t) {
  int64_t a_rows = t.trans_a ? t.K : t.M, a_cols = t.trans_a ? t.M : t.K;
  int64_t b_rows = t.trans_b ? t.N : t.K, b_cols = t.trans_b ? t.K : t.N;
  int64_t lda = a_cols + t.pad, ldb = b_cols + t.pad, ldc = t.N + t.pad;
  auto A = random_bf16(static_cast<size_t>(a_rows * lda), 1);
  auto B = random_bf16(static_cast<size_t>(b_rows * ldb), 2);
  std::vector<float> C(static_cast<size_t>(t.M * ldc));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : C) v = dist(rng);
  const std::vector<float> C0 = C;

  gemm_bf16(t.trans_a, t.trans_b, t.M, t.N, t.K, t.alpha, A.data(), lda, B.data(), ldb, t.beta, C.data(), ldc);

  auto a_at = [&](int64_t m, int64_t k) { return bf(t.trans_a ? A[k * lda + m] : A[m * lda + k]); };
  auto b_at = [&](int64_t k, int64_t n) { return bf(t.trans_b ? B[n * ldb + k] : B[k * ldb + n]); };
  for (int64_t m = 0; m < t.M; ++m) {
    for (int64_t n = 0; n < ldc; ++n) {
      size_t i = static_cast<size_t>(m * ldc + n);
      if (n >= t.N) {
        ASSERT_EQ(C[i], C0[i]) << "wrote outside C at " << m << "," << n;
        continue;
      }
      double sum = 0, sum_abs = 0;
      for (int64_t k = 0; k < t.K; ++k) {
        double p = static_cast<double>(a_at(m, k)) * b_at(k, n);
        sum += p;
        sum_abs += std::fabs(p);
      }
      double ref = t.alpha * sum + (t.beta == 0.0f ? 0.0 : t.beta * static_cast<double>(C0[i]));
      ASSERT_NEAR(C[i], ref, tolerance(t.K, std::fabs(t.alpha) * sum_abs + std::fabs(t.beta * C0[i])))
          << "M=" << t.M << " N=" << t.N << " K=" << t.K << " trans_a=" << t.trans_a << " trans_b=" << t.trans_b
          << " at " << m << "," << n;
    }
  }
}

TEST(GemmBf16, MatchesReferenceForOddShapes) {
  for (bool trans_b : {true, false}) {
    for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 1}, {1, 37, 65}, {2, 70, 33}, {4, 129, 300}, {5, 7, 3},
             {6, 64, 256}, {7, 65, 257}, {13, 130, 511}, {50, 200, 97}, {97, 1030, 520}}) {
      check_gemm({false, trans_b, M, N, K});
    }
  }
}

TEST(GemmBf16, TransposedA) {
  for (bool trans_b : {true, false}) {
    check_gemm({true, trans_b, 1, 33, 17});
    check_gemm({true, trans_b, 19, 70, 131});
    check_gemm({true, trans_b, 130, 70, 301});
  }
}

TEST(GemmBf16, AlphaBetaAndLeadingDimensions) {
  check_gemm({false, true, 3, 45, 77, 0.5f, 2.0f, 5});
  check_gemm({false, false, 11, 67, 301, -1.5f, 0.25f, 3});
  check_gemm({true, true, 9, 130, 40, 2.0f, -1.0f, 1});
}

TEST(GemmBf16, LargeEnoughToUseEveryThreadAndBlock) {
  check_gemm({false, true, 130, 1100, 200});
  // Several K blocks: later blocks accumulate into C (with beta applied once).
  check_gemm({false, true, 31, 150, 2100, 1.0f, 0.5f});
  check_gemm({true, false, 9, 70, 2049});
}

TEST(GemmBf16, BetaZeroIgnoresNaNInC) {
  auto A = random_bf16(4 * 8, 4), B = random_bf16(8 * 16, 5);
  std::vector<float> C(4 * 16, std::nanf(""));
  gemm_bf16(false, 4, 16, 8, A.data(), 8, B.data(), 16, C.data(), 16);
  for (float v : C) EXPECT_FALSE(std::isnan(v));
}

// With an odd K the last element of a row has no partner; what follows it in memory (here NaN)
// must not leak into the result.
TEST(GemmBf16, OddKIgnoresWhatFollowsTheRow) {
  const int64_t M = 7, N = 20, K = 9, lda = K + 1;
  auto A = random_bf16(M * lda, 13), B = random_bf16(N * K, 14);
  for (int64_t m = 0; m < M; ++m) A[m * lda + K] = 0x7fc0;  // NaN
  std::vector<float> C(M * N);
  gemm_bf16(true, M, N, K, A.data(), lda, B.data(), K, C.data(), N);
  for (float v : C) ASSERT_TRUE(std::isfinite(v));
}

TEST(GemmBf16, EmptyKScalesC) {
  std::vector<float> C = {1, 2, 3, 4};
  gemm_bf16(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 3.0f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{3, 6, 9, 12}));
  gemm_bf16(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0, 0, 0, 0}));
}

TEST(Gemv, Bf16WeightsBf16Vector) {
  for (auto [N, K] : std::vector<std::array<int64_t, 2>>{{1, 1}, {3, 31}, {5, 33}, {17, 64}, {1000, 515}}) {
    int64_t ldw = K + 3;
    auto W = random_bf16(static_cast<size_t>(N * ldw), 6), x = random_bf16(static_cast<size_t>(K), 7);
    std::vector<float> y(static_cast<size_t>(N), -99.0f);
    gemv_bf16(N, K, W.data(), ldw, x.data(), y.data());
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0, sum_abs = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = static_cast<double>(bf(W[n * ldw + k])) * bf(x[k]);
        sum += p;
        sum_abs += std::fabs(p);
      }
      ASSERT_NEAR(y[n], sum, tolerance(K, sum_abs)) << "N=" << N << " K=" << K << " row " << n;
    }
  }
}

TEST(Gemv, Bf16WeightsF32Vector) {
  for (auto [N, K] : std::vector<std::array<int64_t, 2>>{{1, 5}, {6, 47}, {2000, 300}}) {
    auto W = random_bf16(static_cast<size_t>(N * K), 8);
    std::vector<float> x(static_cast<size_t>(K));
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    std::vector<float> y(static_cast<size_t>(N));
    gemv_bf16(N, K, W.data(), K, x.data(), y.data());
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0, sum_abs = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = static_cast<double>(bf(W[n * K + k])) * x[k];
        sum += p;
        sum_abs += std::fabs(p);
      }
      ASSERT_NEAR(y[n], sum, tolerance(K, sum_abs)) << "row " << n;
    }
  }
}

TEST(Gemv, F32) {
  for (auto [N, K] : std::vector<std::array<int64_t, 2>>{{1, 1}, {7, 17}, {3000, 129}}) {
    std::mt19937 rng(10);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    int64_t ldw = K + 1;
    std::vector<float> W(static_cast<size_t>(N * ldw)), x(static_cast<size_t>(K)), y(static_cast<size_t>(N));
    for (auto& v : W) v = dist(rng);
    for (auto& v : x) v = dist(rng);
    gemv_f32(N, K, W.data(), ldw, x.data(), y.data());
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0, sum_abs = 0;
      for (int64_t k = 0; k < K; ++k) {
        sum += static_cast<double>(W[n * ldw + k]) * x[k];
        sum_abs += std::fabs(static_cast<double>(W[n * ldw + k]) * x[k]);
      }
      ASSERT_NEAR(y[n], sum, tolerance(K, sum_abs)) << "row " << n;
    }
  }
}

TEST(Gemv, BatchedMatchesGemmForEveryVectorCount) {
  for (int64_t M : {1, 2, 3, 4, 5, 9}) {
    int64_t N = 75, K = 99;
    auto X = random_bf16(static_cast<size_t>(M * K), 11), W = random_bf16(static_cast<size_t>(N * K), 12);
    std::vector<float> Y(static_cast<size_t>(M * N), 1.0f);
    gemv_bf16_batched(M, N, K, X.data(), K, W.data(), K, 2.0f, 0.5f, Y.data(), N);
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        double sum = 0, sum_abs = 0;
        for (int64_t k = 0; k < K; ++k) {
          double p = static_cast<double>(bf(X[m * K + k])) * bf(W[n * K + k]);
          sum += p;
          sum_abs += std::fabs(p);
        }
        ASSERT_NEAR(Y[m * N + n], 2.0 * sum + 0.5, tolerance(K, 2 * sum_abs + 1)) << "M=" << M;
      }
    }
  }
}

}  // namespace
}  // namespace tessera::cpu
