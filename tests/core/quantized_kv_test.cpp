// fast::quantize_kv against a scalar reference of the quantized KV cache's format, and
// fast::quantized_kv_attention against float32 attention over the dequantized keys and values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "numeric_test_util.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

using testing::expect_close;
using testing::expect_error;
using testing::random_array;

struct Codes {
  std::vector<uint8_t> codes;
  std::vector<float> scales, biases;
};

// Per group: scale = (max - min) / (2^bits - 1), bias = min, q = round((x - min) / scale); at 4
// bits element 2k is the low nibble of byte k.
Codes reference(const std::vector<float>& x, int64_t D, int bits, int gs) {
  Codes c;
  const int levels = (1 << bits) - 1;
  const int64_t rows = static_cast<int64_t>(x.size()) / D;
  c.codes.assign(rows * D * bits / 8, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < D / gs; ++g) {
      const float* v = x.data() + r * D + g * gs;
      const float lo = *std::min_element(v, v + gs), hi = *std::max_element(v, v + gs);
      const float scale = (hi - lo) / static_cast<float>(levels);
      c.scales.push_back(scale);
      c.biases.push_back(lo);
      for (int64_t i = 0; i < gs; ++i) {
        const int q = scale > 0 ? std::clamp(static_cast<int>(std::lround((v[i] - lo) / scale)), 0, levels) : 0;
        const int64_t d = r * D + g * gs + i;
        if (bits == 8) c.codes[d] = static_cast<uint8_t>(q);
        else c.codes[d / 2] |= static_cast<uint8_t>(q << ((d % 2) * 4));
      }
    }
  return c;
}

// The dequantized rows, float32 [..., D].
array dequantized(const std::vector<array>& store, int bits, int gs) {
  const std::vector<uint8_t> codes = store[0].to_vector<uint8_t>();
  const std::vector<float> scales = store[1].to_vector<float>(), biases = store[2].to_vector<float>();
  const int64_t D = store[0].shape(-1) * 8 / bits;
  std::vector<float> out(codes.size() * 8 / bits);
  for (size_t i = 0; i < out.size(); ++i) {
    const int q = bits == 8 ? codes[i] : (codes[i / 2] >> ((i % 2) * 4)) & 15;
    const size_t g = i / D * (D / gs) + i % D / gs;
    out[i] = static_cast<float>(q) * scales[g] + biases[g];
  }
  Shape shape = store[0].shape();
  shape.back() = D;
  return array(out.data(), shape, float32);
}

TEST(QuantizeKV, MatchesTheReferenceForEveryWidthGroupSizeAndInputType) {
  for (int bits : {4, 8})
    for (int gs : {8, 32, 64})
      for (Dtype dtype : {float32, bfloat16}) {
        const array x = astype(random_array({2, 3, 5, 64}, static_cast<uint32_t>(bits * gs)), dtype);
        const std::vector<array> got = fast::quantize_kv(x, bits, gs);
        ASSERT_EQ(got.size(), 3u);
        EXPECT_EQ(got[0].shape(), (Shape{2, 3, 5, 64 * bits / 8}));
        EXPECT_EQ(got[1].shape(), (Shape{2, 3, 5, 64 / gs}));
        EXPECT_EQ(got[0].dtype(), uint8);
        EXPECT_EQ(got[2].dtype(), float32);
        const Codes want = reference(astype(x, float32).to_vector<float>(), 64, bits, gs);
        EXPECT_EQ(got[0].to_vector<uint8_t>(), want.codes) << bits << " bits, gs " << gs;
        EXPECT_EQ(got[1].to_vector<float>(), want.scales);
        EXPECT_EQ(got[2].to_vector<float>(), want.biases);
      }
}

TEST(QuantizeKV, ConstantGroupsAndBadInput) {
  const std::vector<array> c = fast::quantize_kv(full({1, 1, 1, 16}, 3.0f), 4, 8);
  EXPECT_EQ(c[0].to_vector<uint8_t>(), std::vector<uint8_t>(8, 0));
  EXPECT_EQ(c[1].to_vector<float>(), std::vector<float>(2, 0.0f));
  EXPECT_EQ(c[2].to_vector<float>(), std::vector<float>(2, 3.0f));
  expect_error<std::invalid_argument>([] { fast::quantize_kv(zeros({1, 1, 1, 16}), 5, 8); }, "[quantize_kv] bits must be 4 or 8");
  expect_error<std::invalid_argument>([] { fast::quantize_kv(zeros({1, 1, 1, 16}), 4, 6); }, "[quantize_kv] The last axis");
  expect_error<std::invalid_argument>([] { fast::quantize_kv(zeros({1, 1, 1, 16}, int32), 4, 8); }, "[quantize_kv] Input must be floating");
}

// A store of `cap` rows whose first `length` hold x's codes and the rest garbage, which the
// attention must not read.
std::vector<array> store_of(const array& x, int cap, int bits, int gs) {
  const std::vector<array> codes = fast::quantize_kv(x, bits, gs);
  const int64_t B = x.shape(0), H = x.shape(1), T = x.shape(2);
  std::vector<array> out;
  for (const array& c : codes) {
    const array junk = astype(full({B, H, cap - T, c.shape(3)}, 77.0f), c.dtype());
    out.push_back(concatenate({c, junk}, 2));
  }
  return out;
}

TEST(QuantizedKVAttention, MatchesAttentionOverTheDequantizedRows) {
  for (int bits : {4, 8})
    for (Dtype dtype : {float32, bfloat16})
      for (int64_t Tq : {1, 5, 24}) {
        const int64_t Tk = 40, D = 64;
        const int gs = 32;
        const array k = random_array({1, 2, Tk, D}, 1), v = random_array({1, 2, Tk, D}, 2);
        const array q = astype(random_array({1, 8, Tq, D}, 3), dtype);
        const std::vector<array> ks = store_of(k, 64, bits, gs), vs = store_of(v, 64, bits, gs);
        const array got = fast::quantized_kv_attention(q, ks, vs, static_cast<int>(Tk), bits, gs, 0.125f, "causal");
        EXPECT_FALSE(got.is_evaluated());
        EXPECT_EQ(got.dtype(), dtype);
        const auto rows = [&](const std::vector<array>& s) {
          std::vector<array> r;
          for (const array& a : s) r.push_back(slice(a, {0, 0, 0, 0}, {1, 2, Tk, a.shape(3)}));
          return r;
        };
        const array want = fast::scaled_dot_product_attention(astype(q, float32), dequantized(rows(ks), bits, gs),
                                                              dequantized(rows(vs), bits, gs), 0.125f, "causal");
        // Prefill rows of bfloat16 q attend over bfloat16 copies of the keys and values.
        expect_close(astype(got, float32), want.to_vector<float>(), dtype == bfloat16 ? 2e-2f : 1e-4f);
      }
}

TEST(QuantizedKVAttention, MaskSoftcapAndBadInput) {
  const array k = random_array({1, 1, 6, 32}, 4), v = random_array({1, 1, 6, 32}, 5);
  const array q = random_array({1, 2, 2, 32}, 6);
  const std::vector<array> ks = store_of(k, 8, 8, 16), vs = store_of(v, 8, 8, 16);
  const std::vector<array> kd = {slice(ks[0], {0, 0, 0, 0}, {1, 1, 6, 32}), slice(ks[1], {0, 0, 0, 0}, {1, 1, 6, 2}),
                                 slice(ks[2], {0, 0, 0, 0}, {1, 1, 6, 2})};
  const std::vector<array> vd = {slice(vs[0], {0, 0, 0, 0}, {1, 1, 6, 32}), slice(vs[1], {0, 0, 0, 0}, {1, 1, 6, 2}),
                                 slice(vs[2], {0, 0, 0, 0}, {1, 1, 6, 2})};
  const array mask = astype(testing::mat({1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1}, {2, 6}), bool_);
  const array got = fast::quantized_kv_attention(q, ks, vs, 6, 8, 16, 0.3f, "", mask, 2.0f);
  const array want =
      fast::scaled_dot_product_attention(q, dequantized(kd, 8, 16), dequantized(vd, 8, 16), 0.3f, "", mask, 2.0f);
  expect_close(got, want.to_vector<float>(), 1e-4f);
  expect_error<std::invalid_argument>([&] { fast::quantized_kv_attention(q, ks, vs, 9, 8, 16, 0.3f); }, "[quantized_kv_attention] length 9");
  expect_error<std::invalid_argument>([&] { fast::quantized_kv_attention(q, ks, vs, 6, 4, 16, 0.3f); }, "[quantized_kv_attention] The keys");
  expect_error<std::invalid_argument>([&] { fast::quantized_kv_attention(q, ks, vs, 6, 8, 16, 0.3f, "", astype(zeros({2, 5}), bool_)); },
               "[quantized_kv_attention] The mask must be [Tq, length]");
  expect_error<std::invalid_argument>([&] { fast::quantized_kv_attention(q, ks, vs, 6, 8, 16, 0.3f, "window"); },
               "[quantized_kv_attention] Unknown mask mode");
}

}  // namespace
}  // namespace tessera
