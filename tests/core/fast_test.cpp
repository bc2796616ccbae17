// fast::swiglu / rms_norm / layer_norm / rope / scaled_dot_product_attention against op-by-op
// references.
#include <gtest/gtest.h>

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
using testing::expect_same;
using testing::mat;
using testing::random_array;

constexpr float kInf = std::numeric_limits<float>::infinity();

array rms_norm_ref(const array& x, const array& w, float eps) {
  return multiply(multiply(x, rsqrt(add(mean(square(x), -1, true), array(eps)))), w);
}

TEST(Swiglu, MatchesReference) {
  // Past one block of 512 and past the size split between threads.
  for (int64_t n : {7, 700, 70000}) {
    const array gate = random_array({n}, 41), x = random_array({n}, 42);
    expect_same(fast::swiglu(gate, x), multiply(multiply(gate, sigmoid(gate)), x), 1e-6f);
    // Half precision: computed in float32 from the rounded inputs and rounded once.
    for (Dtype dt : {bfloat16, float16}) {
      const array gh = astype(gate, dt), xh = astype(x, dt);
      const array y = fast::swiglu(gh, xh);
      EXPECT_EQ(y.dtype(), dt);
      const array gf = astype(gh, float32), xf = astype(xh, float32);
      EXPECT_EQ(astype(y, float32).to_vector<float>(),
                astype(astype(fast::swiglu(gf, xf), dt), float32).to_vector<float>())
          << to_string(dt) << " n " << n;
    }
  }
  expect_close(fast::swiglu(mat({0, 2}, {2}), mat({5, 3}, {2})), {0.0f, 2.0f / (1.0f + std::exp(-2.0f)) * 3});
  // A transposed view of gate.
  const array gt = transpose(random_array({6, 4}, 43)), x = random_array({4, 6}, 44);
  expect_same(fast::swiglu(gt, x), multiply(multiply(gt, sigmoid(gt)), x), 1e-6f);
  expect_error<std::invalid_argument>([&] { fast::swiglu(zeros({2, 3}), zeros({3, 2})); }, "[swiglu] ");
  expect_error<std::invalid_argument>([&] { fast::swiglu(zeros({2}, int32), zeros({2})); }, "[swiglu] ");
}

TEST(RMSNorm, MatchesReference) {
  const array x = random_array({2, 3, 20}, 1);
  const array w = random_array({20}, 2);
  expect_same(fast::rms_norm(x, w, 1e-5f), rms_norm_ref(x, w, 1e-5f), 1e-5f);
  expect_same(fast::rms_norm(x, std::nullopt, 1e-5f), rms_norm_ref(x, ones({20}), 1e-5f), 1e-5f);
  expect_close(fast::rms_norm(mat({3, 4}, {1, 2}), std::nullopt, 0.0f),
               {3 / std::sqrt(12.5f), 4 / std::sqrt(12.5f)});
  // A transposed view and half-precision inputs (computed in float32, stored in x's dtype).
  const array xt = transpose(random_array({20, 4}, 3));
  expect_same(fast::rms_norm(xt, w, 1e-6f), rms_norm_ref(contiguous(xt), w, 1e-6f), 1e-5f);
  for (Dtype dt : {bfloat16, float16}) {
    const array y = fast::rms_norm(astype(x, dt), astype(w, dt), 1e-5f);
    EXPECT_EQ(y.dtype(), dt);
    expect_same(y, rms_norm_ref(astype(astype(x, dt), float32), astype(astype(w, dt), float32), 1e-5f),
                testing::tol_for(dt));
  }
  EXPECT_EQ(fast::rms_norm(zeros({0, 8}), ones({8}), 1e-5f).shape(), (Shape{0, 8}));
  expect_error<std::invalid_argument>([&] { fast::rms_norm(x, ones({19}), 1e-5f); }, "[rms_norm] ");
  expect_error<std::invalid_argument>([&] { fast::rms_norm(zeros({2, 2}, int32), std::nullopt, 1e-5f); },
                                      "[rms_norm] ");
}

TEST(LayerNorm, MatchesReference) {
  const array x = random_array({3, 17}, 4);
  const array w = random_array({17}, 5), b = random_array({17}, 6);
  const array mu = mean(x, -1, true);
  const array xhat = multiply(subtract(x, mu), rsqrt(add(var(x, -1, true), array(1e-5f))));
  expect_same(fast::layer_norm(x, w, b, 1e-5f), add(multiply(xhat, w), b), 1e-5f);
  expect_same(fast::layer_norm(x, std::nullopt, std::nullopt, 1e-5f), xhat, 1e-5f);
  expect_same(fast::layer_norm(x, std::nullopt, b, 1e-5f), add(xhat, b), 1e-5f);
  const array yb = fast::layer_norm(astype(x, bfloat16), w, b, 1e-5f);
  EXPECT_EQ(yb.dtype(), bfloat16);
  expect_same(yb, add(multiply(xhat, w), b), 3e-2f);
  expect_error<std::invalid_argument>([&] { fast::layer_norm(x, std::nullopt, ones({3}), 1e-5f); }, "[layer_norm] ");
}

// NumPy-style RoPE on [N, T, D] values, rotating pairs with angle scale * (offset + t) * inv_freq[i].
std::vector<float> rope_ref(const std::vector<float>& x, int64_t N, int64_t T, int64_t D, int dims, bool traditional,
                            const std::vector<float>& inv_freq, float scale, int offset) {
  std::vector<float> y = x;
  const int half = dims / 2;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < T; ++t)
      for (int i = 0; i < half; ++i) {
        const double angle = scale * static_cast<double>(offset + t) * inv_freq[i];
        const int64_t ia = traditional ? 2 * i : i, ib = traditional ? 2 * i + 1 : i + half;
        const float* r = &x[(n * T + t) * D];
        float* o = &y[(n * T + t) * D];
        o[ia] = static_cast<float>(r[ia] * std::cos(angle) - r[ib] * std::sin(angle));
        o[ib] = static_cast<float>(r[ia] * std::sin(angle) + r[ib] * std::cos(angle));
      }
  return y;
}

std::vector<float> base_freqs(int dims, float base) {
  std::vector<float> f(dims / 2);
  for (int i = 0; i < dims / 2; ++i) f[i] = static_cast<float>(std::pow(base, -2.0 * i / dims));
  return f;
}

TEST(RoPE, ConventionsOffsetsAndScaling) {
  const array x = random_array({1, 2, 5, 8}, 7);
  const auto xv = x.to_vector<float>();
  for (bool traditional : {false, true}) {
    expect_close(fast::rope(x, 8, traditional, 10000.0f, 1.0f, 0),
                 rope_ref(xv, 2, 5, 8, 8, traditional, base_freqs(8, 10000.0f), 1.0f, 0), 1e-5f);
    // Partial rotation, an offset, linear scaling.
    expect_close(fast::rope(x, 4, traditional, 500.0f, 0.5f, 7),
                 rope_ref(xv, 2, 5, 8, 4, traditional, base_freqs(4, 500.0f), 0.5f, 7), 1e-5f);
  }
  // The offset as an array gives the same as the integer offset.
  expect_same(fast::rope(x, 8, false, 10000.0f, 1.0f, array(3)), fast::rope(x, 8, false, 10000.0f, 1.0f, 3));
  // One offset per batch row: each row equals its own integer-offset rotation, bit for bit.
  const array batch = random_array({3, 2, 4, 8}, 10);
  const array per_row = fast::rope(batch, 8, false, 10000.0f, 1.0f, array(std::vector<int>{5, -2, 0}.data(), {3}, int32));
  const int row_offsets[] = {5, -2, 0};
  for (int b = 0; b < 3; ++b) {
    const array row = slice(batch, {b, 0, 0, 0}, {b + 1, 2, 4, 8});
    EXPECT_EQ(slice(per_row, {b, 0, 0, 0}, {b + 1, 2, 4, 8}).to_vector<float>(),
              fast::rope(row, 8, false, 10000.0f, 1.0f, row_offsets[b]).to_vector<float>())
        << "row " << b;
  }
  expect_error<std::invalid_argument>(
      [&] { fast::rope(batch, 8, false, 10000.0f, 1.0f, array(std::vector<int>{1, 2}.data(), {2}, int32)); },
      "[rope] The offset array must be one integer or one per batch row (3)");
  // Custom frequencies: inv_freq = 1 / freqs.
  const array freqs = mat({1.0f, 4.0f, 30.0f, 200.0f}, {4});
  expect_close(fast::rope(x, 8, false, std::nullopt, 1.0f, 2, freqs),
               rope_ref(xv, 2, 5, 8, 8, false, {1.0f, 0.25f, 1 / 30.0f, 1 / 200.0f}, 1.0f, 2), 1e-5f);
  // A [B, T, H, D] tensor transposed to [B, H, T, D] (a non-contiguous view) and bf16.
  const array bthd = random_array({1, 5, 2, 8}, 8);
  const array view = transpose(bthd, {0, 2, 1, 3});
  expect_close(fast::rope(view, 8, false, 10000.0f, 1.0f, 1),
               rope_ref(contiguous(view).to_vector<float>(), 2, 5, 8, 8, false, base_freqs(8, 10000.0f), 1.0f, 1),
               1e-5f);
  const array strided_features = swapaxes(random_array({1, 2, 8, 5}, 9), -1, -2);  // feature stride 5
  expect_same(fast::rope(strided_features, 6, true, 10000.0f, 1.0f, 4),
              fast::rope(contiguous(strided_features), 6, true, 10000.0f, 1.0f, 4));
  const array yb = fast::rope(astype(x, bfloat16), 8, false, 10000.0f, 1.0f, 0);
  EXPECT_EQ(yb.dtype(), bfloat16);
  expect_close(yb, rope_ref(astype(astype(x, bfloat16), float32).to_vector<float>(), 2, 5, 8, 8, false,
                            base_freqs(8, 10000.0f), 1.0f, 0),
               2e-2f);
  expect_error<std::invalid_argument>([&] { fast::rope(x, 9, false, 10000.0f, 1.0f, 0); }, "[rope] ");
  expect_error<std::invalid_argument>([&] { fast::rope(x, 8, false, 10000.0f, 1.0f, 0, freqs); }, "[rope] ");
  expect_error<std::invalid_argument>([&] { fast::rope(x, 8, false, std::nullopt, 1.0f, 0, mat({1}, {1})); },
                                      "[rope] ");
}

// softmax(q k^T * scale [softcap] + mask) v, op by op, with k/v heads repeated for GQA.
array sdpa_ref(const array& q, const array& k, const array& v, float scale, bool causal,
               const std::optional<array>& mask = {}, std::optional<float> softcap = {}) {
  const int64_t B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2);
  const int64_t Hkv = k.shape(1), Tk = k.shape(2);
  auto repeat_heads = [&](const array& t) {
    Shape s{B, Hkv, Hq / Hkv, Tk, t.shape(3)};
    return reshape(contiguous(broadcast_to(expand_dims(t, 2), s)), {B, Hq, Tk, t.shape(3)});
  };
  const array kf = astype(repeat_heads(k), float32), vf = astype(repeat_heads(v), float32);
  array s = multiply(matmul(astype(q, float32), swapaxes(kf, -1, -2)), array(scale));
  if (softcap) s = multiply(tanh(divide(s, array(*softcap))), array(*softcap));
  if (mask) s = mask->dtype() == bool_ ? where(*mask, s, array(-kInf)) : add(s, astype(*mask, float32));
  if (causal) {
    std::vector<float> m(Tq * Tk);
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j) m[i * Tk + j] = j <= i + Tk - Tq ? 0.0f : -kInf;
    s = add(s, mat(m, {Tq, Tk}));
  }
  return matmul(softmax(s, -1), vf);
}

TEST(Attention, MatchesReference) {
  const array q = random_array({2, 4, 5, 16}, 11);
  const array k = random_array({2, 4, 7, 16}, 12);
  const array v = random_array({2, 4, 7, 16}, 13);
  const float scale = 0.25f;
  expect_same(fast::scaled_dot_product_attention(q, k, v, scale), sdpa_ref(q, k, v, scale, false), 1e-5f);
  expect_same(fast::scaled_dot_product_attention(q, k, v, scale, "causal"), sdpa_ref(q, k, v, scale, true), 1e-5f);
  const array qs = random_array({2, 4, 7, 16}, 14);
  expect_same(fast::scaled_dot_product_attention(qs, k, v, scale, "causal"), sdpa_ref(qs, k, v, scale, true), 1e-5f);
}

TEST(Attention, GroupedQueryHeadsAndValueWidth) {
  const array q = random_array({1, 6, 3, 8}, 15);
  const array k = random_array({1, 2, 9, 8}, 16);
  const array v = random_array({1, 2, 9, 5}, 17);  // Dv != D
  const array out = fast::scaled_dot_product_attention(q, k, v, 0.3f, "causal");
  EXPECT_EQ(out.shape(), (Shape{1, 6, 3, 5}));
  expect_same(out, sdpa_ref(q, k, v, 0.3f, true), 1e-5f);
}

TEST(Attention, MasksAndSoftcap) {
  const array q = random_array({2, 2, 4, 8}, 18);
  const array k = random_array({2, 2, 6, 8}, 19);
  const array v = random_array({2, 2, 6, 8}, 20);
  const array additive = multiply(random_array({4, 6}, 21), array(3.0f));  // broadcast over B, H
  expect_same(fast::scaled_dot_product_attention(q, k, v, 0.5f, "", additive), sdpa_ref(q, k, v, 0.5f, false, additive),
              1e-5f);
  std::vector<float> keep(2 * 4 * 6);
  for (size_t i = 0; i < keep.size(); ++i) keep[i] = (i % 3 != 1) ? 1.0f : 0.0f;
  const array boolean = astype(mat(keep, {2, 1, 4, 6}), bool_);
  expect_same(fast::scaled_dot_product_attention(q, k, v, 0.5f, "", boolean), sdpa_ref(q, k, v, 0.5f, false, boolean),
              1e-5f);
  expect_same(fast::scaled_dot_product_attention(q, k, v, 2.0f, "causal", additive, 1.5f),
              sdpa_ref(q, k, v, 2.0f, true, additive, 1.5f), 1e-5f);
  // A query that sees no key at all gets zeros.
  const array none = astype(zeros({4, 6}), bool_);
  expect_close(fast::scaled_dot_product_attention(q, k, v, 0.5f, "", none), std::vector<float>(2 * 2 * 4 * 8, 0.0f));
}

TEST(Attention, DecodeFromStridedCacheAndHalfPrecision) {
  // The cache holds 16 slots; 9 are filled. k/v are views [B, H, 0:9, D] of it.
  const array cache_k = random_array({1, 2, 16, 8}, 22), cache_v = random_array({1, 2, 16, 8}, 23);
  const array k = slice(cache_k, {0, 0, 0, 0}, {1, 2, 9, 8});
  const array v = slice(cache_v, {0, 0, 0, 0}, {1, 2, 9, 8});
  const array q = random_array({1, 4, 1, 8}, 24);
  expect_same(fast::scaled_dot_product_attention(q, k, v, 0.35f, "causal"),
              sdpa_ref(q, contiguous(k), contiguous(v), 0.35f, true), 1e-5f);
  for (Dtype dt : {bfloat16, float16}) {
    const array out = fast::scaled_dot_product_attention(astype(q, dt), astype(k, dt), astype(v, dt), 0.35f);
    EXPECT_EQ(out.dtype(), dt);
    expect_same(out, sdpa_ref(astype(q, dt), astype(k, dt), astype(v, dt), 0.35f, false), testing::tol_for(dt) * 2);
  }
}

TEST(Attention, BfloatAtModelHeadSizes) {
  // Head sizes of real models take the bfloat16 kernel (query heads of a key/value head together,
  // 16 keys per block, blocks of 64 query positions): key counts below, at and past a block, from
  // a strided cache; decoding and prefill-sized query counts (70: two position blocks).
  for (auto [D, Dv] : {std::pair<int64_t, int64_t>{64, 64}, {128, 128}, {256, 256}, {64, 128}}) {
    const array cache_k = astype(random_array({2, 2, 80, D}, 30), bfloat16);
    const array cache_v = astype(random_array({2, 2, 80, Dv}, 31), bfloat16);
    for (int64_t Tq : {1, 3, 20, 70})
      for (int64_t Tk : {3, 16, 17, 70}) {
        if (Tk < Tq) continue;
        const std::string what = "D " + std::to_string(D) + " Dv " + std::to_string(Dv) + " Tq " +
                                  std::to_string(Tq) + " Tk " + std::to_string(Tk);
        const array k = slice(cache_k, {0, 0, 0, 0}, {2, 2, Tk, D}), v = slice(cache_v, {0, 0, 0, 0}, {2, 2, Tk, Dv});
        const array q = astype(random_array({2, 8, Tq, D}, 32), bfloat16);
        const array kc = contiguous(k), vc = contiguous(v);
        const float scale = 1.0f / std::sqrt(static_cast<float>(D));
        SCOPED_TRACE(what);
        expect_same(fast::scaled_dot_product_attention(q, k, v, scale, "causal"), sdpa_ref(q, kc, vc, scale, true),
                    testing::tol_for(bfloat16) * 2);
        std::vector<float> keep(2 * Tq * Tk);
        for (size_t i = 0; i < keep.size(); ++i) keep[i] = (i % 4 != 2) ? 1.0f : 0.0f;
        const array boolean = astype(mat(keep, {2, 1, Tq, Tk}), bool_);
        expect_same(fast::scaled_dot_product_attention(q, k, v, scale, "", boolean),
                    sdpa_ref(q, kc, vc, scale, false, boolean), testing::tol_for(bfloat16) * 2);
        const array additive = multiply(random_array({Tq, Tk}, 33), array(2.0f));
        expect_same(fast::scaled_dot_product_attention(q, k, v, scale, "causal", additive, 5.0f),
                    sdpa_ref(q, kc, vc, scale, true, additive, 5.0f), testing::tol_for(bfloat16) * 2);
      }
  }
  {
    // Three query heads per key/value head and 7 positions: 21 rows, eight at a time and 5 more.
    const array q = astype(random_array({1, 6, 7, 64}, 40), bfloat16);
    const array k = astype(random_array({1, 2, 50, 64}, 41), bfloat16), v = astype(random_array({1, 2, 50, 64}, 42), bfloat16);
    expect_same(fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal"), sdpa_ref(q, k, v, 0.125f, true),
                testing::tol_for(bfloat16) * 2);
  }
  {
    // More queries than keys: the first 40 positions see nothing and get zeros.
    const array q = astype(random_array({1, 4, 70, 64}, 37), bfloat16);
    const array k = astype(random_array({1, 2, 30, 64}, 38), bfloat16), v = astype(random_array({1, 2, 30, 64}, 39), bfloat16);
    const array out = fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal");
    expect_close(slice(out, {0, 0, 0, 0}, {1, 4, 40, 64}), std::vector<float>(4 * 40 * 64, 0.0f));
    expect_same(slice(out, {0, 0, 40, 0}, {1, 4, 70, 64}),
                slice(sdpa_ref(q, k, v, 0.125f, true), {0, 0, 40, 0}, {1, 4, 70, 64}), testing::tol_for(bfloat16) * 2);
  }
  const array q = astype(random_array({1, 4, 1, 64}, 34), bfloat16);
  const array k = astype(random_array({1, 2, 20, 64}, 35), bfloat16), v = astype(random_array({1, 2, 20, 64}, 36), bfloat16);
  expect_close(fast::scaled_dot_product_attention(q, k, v, 0.1f, "", astype(zeros({1, 20}), bool_)),
               std::vector<float>(4 * 64, 0.0f));
}

TEST(Attention, LongQueryBlocks) {
  // Enough queries for the blocked GEMM path, with a partial last block.
  const array q = random_array({1, 4, 70, 8}, 25);
  const array k = random_array({1, 2, 75, 8}, 26);
  const array v = random_array({1, 2, 75, 6}, 27);
  const array additive = random_array({1, 4, 70, 75}, 28);
  expect_same(fast::scaled_dot_product_attention(q, k, v, 0.4f), sdpa_ref(q, k, v, 0.4f, false), 1e-5f);
  expect_same(fast::scaled_dot_product_attention(q, k, v, 0.4f, "causal", additive, 3.0f),
              sdpa_ref(q, k, v, 0.4f, true, additive, 3.0f), 1e-5f);
  // More queries than keys: the first queries see nothing and get zeros.
  const array kk = slice(k, {0, 0, 0, 0}, {1, 2, 30, 8}), vv = slice(v, {0, 0, 0, 0}, {1, 2, 30, 6});
  const array out = fast::scaled_dot_product_attention(q, kk, vv, 0.4f, "causal");
  expect_close(slice(out, {0, 0, 0, 0}, {1, 4, 40, 6}), std::vector<float>(4 * 40 * 6, 0.0f));
  expect_same(slice(out, {0, 0, 40, 0}, {1, 4, 70, 6}),
              slice(sdpa_ref(q, contiguous(kk), contiguous(vv), 0.4f, true), {0, 0, 40, 0}, {1, 4, 70, 6}), 1e-5f);
  const array ob = fast::scaled_dot_product_attention(astype(q, bfloat16), astype(k, bfloat16), astype(v, bfloat16),
                                                      0.4f, "causal");
  EXPECT_EQ(ob.dtype(), bfloat16);
  expect_same(ob, sdpa_ref(astype(q, bfloat16), astype(k, bfloat16), astype(v, bfloat16), 0.4f, true), 4e-2f);
}

TEST(Attention, BadInput) {
  const array q = zeros({1, 3, 2, 4}), k = zeros({1, 2, 2, 4}), v = zeros({1, 2, 2, 4});
  const char* p = "[scaled_dot_product_attention] ";
  expect_error<std::invalid_argument>([&] { fast::scaled_dot_product_attention(q, k, v, 1.0f); }, p);
  expect_error<std::invalid_argument>([&] { fast::scaled_dot_product_attention(zeros({1, 2, 4}), k, v, 1.0f); }, p);
  expect_error<std::invalid_argument>(
      [&] { fast::scaled_dot_product_attention(zeros({1, 2, 2, 3}), k, v, 1.0f); }, p);
  expect_error<std::invalid_argument>(
      [&] { fast::scaled_dot_product_attention(zeros({1, 2, 2, 4}), k, v, 1.0f, "sliding"); }, p);
  expect_error<std::invalid_argument>(
      [&] { fast::scaled_dot_product_attention(zeros({1, 2, 2, 4}), k, v, 1.0f, "", zeros({3, 3})); }, p);
  expect_error<std::invalid_argument>(
      [&] { fast::scaled_dot_product_attention(zeros({1, 2, 2, 4}), k, v, 1.0f, "", zeros({2, 2}, int32)); }, p);
  EXPECT_EQ(fast::scaled_dot_product_attention(zeros({1, 2, 0, 4}), k, v, 1.0f).shape(), (Shape{1, 2, 0, 4}));
}

TEST(FastGrad, Vjp) {
  check_vjp([](const std::vector<array>& v) { return fast::swiglu(v[0], v[1]); },
            {random_array({3, 6}, 33), random_array({3, 6}, 34)});
  check_vjp([](const std::vector<array>& v) { return fast::rms_norm(v[0], v[1], 1e-5f); },
            {random_array({3, 6}, 31), random_array({6}, 32)});
  check_vjp([](const std::vector<array>& v) { return fast::layer_norm(v[0], v[1], v[2], 1e-5f); },
            {random_array({3, 6}, 33), random_array({6}, 34), random_array({6}, 35)});
  check_vjp([](const std::vector<array>& v) { return fast::layer_norm(v[0], std::nullopt, std::nullopt, 1e-5f); },
            {random_array({2, 5}, 36)});
  check_vjp([](const std::vector<array>& v) { return fast::rope(v[0], 4, false, 10000.0f, 1.0f, 3); },
            {random_array({1, 2, 3, 6}, 37)});
  check_vjp([](const std::vector<array>& v) { return fast::rope(v[0], 6, true, 100.0f, 0.5f, 1); },
            {random_array({1, 1, 3, 6}, 38)});
  check_vjp(
      [](const std::vector<array>& v) { return fast::scaled_dot_product_attention(v[0], v[1], v[2], 0.5f, "causal"); },
      {random_array({1, 4, 3, 4}, 39), random_array({1, 2, 5, 4}, 40), random_array({1, 2, 5, 3}, 41)});
  check_vjp(
      [](const std::vector<array>& v) {
        return fast::scaled_dot_product_attention(v[0], v[1], v[2], 0.7f, "", v[3], 2.0f);
      },
      {random_array({1, 2, 3, 4}, 42), random_array({1, 2, 4, 4}, 43), random_array({1, 2, 4, 4}, 44),
       random_array({3, 4}, 45)});
  // More queries than keys: the first rows see nothing and get (finite) zero gradients.
  check_vjp(
      [](const std::vector<array>& v) { return fast::scaled_dot_product_attention(v[0], v[1], v[2], 0.5f, "causal"); },
      {random_array({1, 1, 4, 4}, 46), random_array({1, 1, 2, 4}, 47), random_array({1, 1, 2, 4}, 48)});
}

}  // namespace
}  // namespace tessera
