// Affine quantization: bit-exact against MLX's reference (tests/fixtures/quant, every case found
// there), quantized_matmul against matmul with the dequantized matrix, the x-gradient, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cpu/quantized_int8.h"
#include "core/gradcheck.h"
#include "core/numeric_test_util.h"
#include "core/quantized_test_util.h"
#include "io/safetensors_header.h"
#include "tessera/quantized.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

std::string fixtures_dir() {
  const char* env = std::getenv("TESSERA_FIXTURES_DIR");
  return env && *env ? env : "tests/fixtures";
}

Dtype dtype_of_safetensors(const std::string& s) {
  static const std::map<std::string, Dtype> table = {{"F32", float32}, {"BF16", bfloat16}, {"F16", float16},
                                                     {"U8", uint8},    {"U32", uint32},    {"I32", int32},
                                                     {"I64", int64}};
  return table.at(s);
}

// Every tensor of a safetensors file, read into memory.
std::map<std::string, array> read_tensors(const std::string& path) {
  const io::SafetensorsHeader header = io::read_safetensors_header(path);
  std::ifstream in(path, std::ios::binary);
  auto bytes = std::make_shared<std::vector<char>>(header.data_size);
  in.seekg(static_cast<std::streamoff>(header.data_offset));
  in.read(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  std::map<std::string, array> out;
  for (const auto& t : header.tensors) {
    out.emplace(t.name, array(bytes->data() + t.data_begin, t.shape, dtype_of_safetensors(t.dtype),
                              [bytes](void*) {}));
  }
  return out;
}

template <typename T>
std::vector<T> values(array a) {
  return a.to_vector<T>();
}

std::vector<uint16_t> bits16(array a) {
  a = contiguous(a);
  a.eval();
  std::vector<uint16_t> out(a.size());
  std::memcpy(out.data(), a.data<void>(), a.nbytes());
  return out;
}

struct QuantCase {
  std::string prefix;  // "<matrix>.bits<b>_gs<g>"
  std::string matrix;
  int bits;
  int group_size;
};

// "<matrix>.bits<b>_gs<g>.weight" names a quantization case; other names do not.
std::optional<QuantCase> parse_case(const std::string& name) {
  const size_t pos = name.rfind(".bits");
  if (pos == std::string::npos) {
    return std::nullopt;
  }
  int bits = 0;
  int group_size = 0;
  char tail[16] = {};
  if (std::sscanf(name.c_str() + pos, ".bits%d_gs%d%15s", &bits, &group_size, tail) != 3 ||
      std::string(tail) != ".weight") {
    return std::nullopt;
  }
  return QuantCase{name.substr(0, name.size() - 7), name.substr(0, pos), bits, group_size};
}

// Every prefix of quant.safetensors that has a packed weight.
std::vector<QuantCase> discover_cases(const std::map<std::string, array>& tensors) {
  std::vector<QuantCase> cases;
  for (const auto& [name, value] : tensors) {
    if (auto c = parse_case(name)) {
      cases.push_back(*c);
    }
  }
  return cases;
}

class QuantFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tensors_ = new std::map<std::string, array>(read_tensors(fixtures_dir() + "/quant/quant.safetensors"));
    std::ifstream in(fixtures_dir() + "/quant/reference.json");
    reference_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    delete tensors_;
    delete reference_;
  }
  static const array& t(const std::string& name) { return tensors_->at(name); }

  static std::map<std::string, array>* tensors_;
  static nlohmann::json* reference_;
};
std::map<std::string, array>* QuantFixture::tensors_ = nullptr;
nlohmann::json* QuantFixture::reference_ = nullptr;

TEST_F(QuantFixture, FindsEveryBitsAndGroupSizeForBothDtypes) {
  const auto cases = discover_cases(*tensors_);
  EXPECT_EQ(cases.size(), 36u);  // {W, W_bf16} x bits {2,3,4,5,6,8} x group sizes {32,64,128}
}

TEST_F(QuantFixture, QuantizeIsBitExact) {
  const auto cases = discover_cases(*tensors_);
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.prefix);
    const array& w = t(c.matrix);
    auto [packed, scales, biases] = quantize(w, c.group_size, c.bits);
    EXPECT_EQ(packed.shape(), t(c.prefix + ".weight").shape());
    EXPECT_EQ(values<uint32_t>(packed), values<uint32_t>(t(c.prefix + ".weight")));
    ASSERT_EQ(scales.dtype(), w.dtype());
    ASSERT_EQ(biases.dtype(), w.dtype());
    if (w.dtype() == float32) {
      EXPECT_EQ(values<float>(scales), values<float>(t(c.prefix + ".scales")));
      EXPECT_EQ(values<float>(biases), values<float>(t(c.prefix + ".biases")));
    } else {
      EXPECT_EQ(bits16(scales), bits16(t(c.prefix + ".scales")));
      EXPECT_EQ(bits16(biases), bits16(t(c.prefix + ".biases")));
    }
  }
}

TEST_F(QuantFixture, DequantizeIsBitExact) {
  for (const auto& c : discover_cases(*tensors_)) {
    SCOPED_TRACE(c.prefix);
    const array& packed = t(c.prefix + ".weight");
    const array& scales = t(c.prefix + ".scales");
    const array& biases = t(c.prefix + ".biases");
    // The integers themselves: scale 1, bias 0.
    array q = dequantize(packed, ones(scales.shape()), zeros(biases.shape()), c.group_size, c.bits);
    EXPECT_EQ(values<float>(q), values<float>(astype(t(c.prefix + ".q"), float32)));
    // q * scale + bias in float32 from the stored parameters.
    array deq32 = dequantize(packed, astype(scales, float32), astype(biases, float32), c.group_size, c.bits);
    EXPECT_EQ(values<float>(deq32), values<float>(t(c.prefix + ".dequantized")));
    // In the weight dtype: the same values rounded once.
    array deq = dequantize(packed, scales, biases, c.group_size, c.bits);
    ASSERT_EQ(deq.dtype(), scales.dtype());
    EXPECT_EQ(bits16(astype(deq, bfloat16)), bits16(astype(t(c.prefix + ".dequantized"), bfloat16)));
  }
}

TEST_F(QuantFixture, RoundTripErrorMatchesReference) {
  for (const auto& c : discover_cases(*tensors_)) {
    SCOPED_TRACE(c.prefix);
    ASSERT_TRUE(reference_->contains(c.prefix));
    const auto& ref = (*reference_)[c.prefix];
    const array& w = t(c.matrix);
    auto [packed, scales, biases] = quantize(w, c.group_size, c.bits);
    std::vector<float> orig = values<float>(w);
    std::vector<float> back =
        values<float>(dequantize(packed, astype(scales, float32), astype(biases, float32), c.group_size, c.bits));
    double max_err = 0, sum_err = 0;
    bool zero_exact = true;
    for (size_t i = 0; i < orig.size(); ++i) {
      const double e = std::abs(static_cast<double>(orig[i]) - back[i]);
      max_err = std::max(max_err, e);
      sum_err += e;
      if (orig[i] == 0.0f && back[i] != 0.0f) zero_exact = false;
    }
    EXPECT_NEAR(max_err, ref["max_abs_err"].get<double>(), 1e-6);
    EXPECT_NEAR(sum_err / orig.size(), ref["mean_abs_err"].get<double>(), 1e-7);
    EXPECT_EQ(zero_exact, ref["zero_exact"].get<bool>());
  }
}

TEST(Quantize, StackedExpertWeightsQuantizePerRow) {
  array w = testing::random_array({3, 4, 64}, 7);
  auto [packed, scales, biases] = quantize(w, 32, 4);
  EXPECT_EQ(packed.shape(), (Shape{3, 4, 8}));
  EXPECT_EQ(scales.shape(), (Shape{3, 4, 2}));
  auto [p1, s1, b1] = quantize(reshape(slice(w, {1, 0, 0}, {2, 4, 64}), {4, 64}), 32, 4);
  EXPECT_EQ(values<uint32_t>(slice(packed, {1, 0, 0}, {2, 4, 8})), values<uint32_t>(p1));
  EXPECT_EQ(values<float>(dequantize(packed, scales, biases, 32, 4)).size(), 3u * 4 * 64);
}

void expect_close(array got, array want, float atol, float rtol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], w[i], atol + rtol * std::abs(w[i])) << what << " element " << i;
  }
}

void expect_within(array got, array want, array bound, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>(), b = bound.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], b[i] + 1e-4f * std::abs(w[i])) << what << " element " << i;
}

// Whether quantized_matmul hands these rows to the few-row int8 kernel (which rounds x).
bool int8_kernel_rows(const array& w, int64_t K, int gs, int bits, int64_t M) {
  const cpu::QuantizedMatrix m{w.data<uint32_t>(), nullptr, nullptr, cpu::ScaleType::float32, w.shape(0), K, gs, bits};
  return cpu::qint8::supports(m) && M <= cpu::qint8::max_rows(m);
}

TEST(QuantizedMatmul, EqualsMatmulWithDequantizedWeight) {
  const int64_t N = 24;
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      const int64_t K = 3 * gs + (gs == 32 ? 32 : 0);  // K not a multiple of 64 for the smallest groups
      auto [w, s, b] = quantize(testing::random_array({N, K}, bits * 10 + gs), gs, bits);
      array wd = dequantize(w, s, b, gs, bits);
      for (int64_t M : {1, 3, 7, 33, 70}) {
        const std::string what = "bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " M " +
                                 std::to_string(M);
        array x = testing::random_array({M, K}, static_cast<uint32_t>(M));
        array got = quantized_matmul(x, w, s, b, true, gs, bits);
        if (int8_kernel_rows(w, K, gs, bits, M)) {
          expect_within(got, matmul(x, transpose(wd)), testing::int8_activation_bound(x, wd), what);
        } else {
          expect_close(got, matmul(x, transpose(wd)), 1e-4f, 1e-4f, what);
        }
        array xn = testing::random_array({M, N}, static_cast<uint32_t>(M + 1));
        expect_close(quantized_matmul(xn, w, s, b, false, gs, bits), matmul(xn, wd), 1e-4f, 1e-4f,
                     what + " transpose=false");
      }
    }
  }
}

// The decode shapes: every row count up to two passes of the few-row kernel, long rows with
// several chunks per group and several groups per chunk, scales in every float type, and an
// activation outlier that only its own block of 32 absorbs.
TEST(QuantizedMatmul, FewRowsStayWithinInt8ActivationRounding) {
  const int64_t N = 37, K = 1024;
  for (Dtype dtype : {float32, bfloat16, float16}) {
    for (int bits : {4, 8}) {
      for (int gs : {32, 64, 128}) {
        auto [w, s, b] = quantize(testing::random_array({N, K}, bits + gs, dtype), gs, bits);
        // Dequantized in float32 from the 16-bit scales, as the kernel computes it.
        array wd = dequantize(w, astype(s, float32), astype(b, float32), gs, bits);
        for (int64_t M = 1; M <= 17; ++M) {
          const std::string what = "dtype " + to_string(dtype) +
                                   " bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " M " +
                                   std::to_string(M);
          std::vector<float> xv = testing::random_array({M, K}, static_cast<uint32_t>(100 + M)).to_vector<float>();
          xv[K / 2 + 3] = 40.0f;
          array x(xv, {M, K}, float32);
          array got = quantized_matmul(x, w, s, b, true, gs, bits);
          expect_within(got, matmul(x, transpose(wd)), testing::int8_activation_bound(x, wd), what);
        }
      }
    }
  }
}

TEST(QuantizedMatmul, BatchedNonContiguousAndHalfInputs) {
  const int64_t N = 40, K = 128;
  auto [w, s, b] = quantize(testing::random_array({N, K}, 3), 64, 4);
  array wd = dequantize(w, s, b, 64, 4);
  // [2, 5, K] made by swapping the axes of [5, 2, K]: strided x.
  array x = swapaxes(testing::random_array({5, 2, K}, 4), 0, 1);
  x.eval();
  EXPECT_FALSE(x.flags().row_contiguous);
  array y = quantized_matmul(x, w, s, b, true, 64, 4);
  EXPECT_EQ(y.shape(), (Shape{2, 5, N}));
  expect_within(y, matmul(x, transpose(wd)), testing::int8_activation_bound(x, wd), "strided f32");
  // Column slice of a wider matrix: non-contiguous rows.
  array wide = testing::random_array({9, 2 * K}, 5);
  array xs = slice(wide, {0, K}, {9, 2 * K});
  expect_within(quantized_matmul(xs, w, s, b, true, 64, 4), matmul(xs, transpose(wd)), testing::int8_activation_bound(xs, wd),
                "sliced");
  // bf16 activations and bf16 scales: bf16 result within bf16 rounding.
  auto [wb, sb, bb] = quantize(testing::random_array({N, K}, 6, bfloat16), 64, 8);
  array xb = testing::random_array({3, K}, 8, bfloat16);
  array yb = quantized_matmul(xb, wb, sb, bb, true, 64, 8);
  EXPECT_EQ(yb.dtype(), bfloat16);
  expect_close(yb, matmul(astype(xb, float32), transpose(astype(dequantize(wb, sb, bb, 64, 8), float32))), 2e-2f,
               1e-2f, "bf16");
  // Many bf16 rows: the prefill path rounds the dequantized weights to bf16 as well.
  array xb_many = testing::random_array({40, K}, 11, bfloat16);
  expect_close(quantized_matmul(xb_many, wb, sb, bb, true, 64, 8),
               matmul(astype(xb_many, float32), transpose(astype(dequantize(wb, sb, bb, 64, 8), float32))), 5e-2f,
               1e-2f, "bf16 prefill");
  // f16 activations with f32 scales promote to f32.
  array xh = testing::random_array({1, K}, 9, float16);
  array yh = quantized_matmul(xh, w, s, b, true, 64, 4);
  EXPECT_EQ(yh.dtype(), float32);
  array xhf = astype(xh, float32);
  expect_within(yh, matmul(xhf, transpose(wd)), testing::int8_activation_bound(xhf, wd), "f16");
  // A 1-D x.
  array x1 = testing::random_array({K}, 10);
  expect_within(quantized_matmul(x1, w, s, b, true, 64, 4), matmul(x1, transpose(wd)), testing::int8_activation_bound(x1, wd),
                "1-D");
}

TEST(QuantizedMatmul, GradientWithRespectToX) {
  // Finite differences need a forward that is smooth in x: rows of 64 elements are shorter than
  // one chunk of the int8-activation kernel, so these 4-bit products stay in float32.
  for (bool transpose : {true, false}) {
    auto [w, s, b] = quantize(testing::random_array({6, 64}, 11), 32, 4);
    eval(w, s, b);
    const int64_t K = transpose ? 64 : 6;
    testing::check_vjp(
        [&, w = w, s = s, b = b](const std::vector<array>& in) {
          return quantized_matmul(in[0], w, s, b, transpose, 32, 4);
        },
        {testing::random_array({3, K}, 12)});
  }
  // The gradient is the cotangent times the dequantized matrix.
  auto [w, s, b] = quantize(testing::random_array({6, 64}, 13), 32, 8);
  array x = testing::random_array({2, 64}, 14);
  array g = testing::random_array({2, 6}, 15);
  auto [outs, grads] = vjp(
      [&, w = w](const std::vector<array>& in) {
        return std::vector<array>{quantized_matmul(in[0], w, in[1], in[2], true, 32, 8)};
      },
      {x, s, b}, {g});
  expect_close(grads[0], matmul(g, dequantize(w, s, b, 32, 8)), 1e-5f, 1e-5f, "vjp x");
}

TEST(QuantizedMatmul, GradientWithRespectToScalesAndBiases) {
  for (bool transpose : {true, false}) {
    auto [w, s, b] = quantize(testing::random_array({4, 64}, 17), 32, 4);
    eval(w, s, b);
    array x = testing::random_array({3, transpose ? 64 : 4}, 18);
    testing::check_vjp(
        [&, w = w](const std::vector<array>& in) { return quantized_matmul(x, w, in[0], in[1], transpose, 32, 4); },
        {s, b});
  }
}

TEST(QuantizedTake, PicksDequantizedRows) {
  auto [w, s, b] = quantize(testing::random_array({10, 64}, 16, bfloat16), 32, 6);
  array idx = array(std::vector<int>{3, 0, 9, 3, 5, 1}, {2, 3}, int32);
  array rows = quantized_take(w, s, b, idx, 32, 6);
  EXPECT_EQ(rows.shape(), (Shape{2, 3, 64}));
  EXPECT_EQ(rows.dtype(), bfloat16);
  EXPECT_EQ(bits16(rows), bits16(take(dequantize(w, s, b, 32, 6), idx, 0)));
  EXPECT_THROW(quantized_take(w, s, b, array(std::vector<int>{10}, {1}, int32), 32, 6).eval(), std::out_of_range);
}

template <typename F>
void expect_error_starting_with(const F& f, const std::string& prefix) {
  try {
    f();
    ADD_FAILURE() << "expected an error starting with " << prefix;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
  }
}

TEST(Quantize, BadInputIsAClearError) {
  array w = testing::random_array({4, 96});
  expect_error_starting_with([&] { quantize(w, 64, 4); }, "[quantize] The last dimension");
  expect_error_starting_with([&] { quantize(w, 32, 7); }, "[quantize] bits");
  expect_error_starting_with([&] { quantize(w, 48, 4); }, "[quantize] group_size");
  expect_error_starting_with([&] { quantize(testing::random_array({96}), 32, 4); }, "[quantize]");
  expect_error_starting_with([&] { quantize(astype(w, int32), 32, 4); }, "[quantize]");
  auto [p, s, b] = quantize(w, 32, 4);
  array x = testing::random_array({2, 96});
  expect_error_starting_with([&] { quantized_matmul(x, p, s, b, true, 32, 7); }, "[quantized_matmul] bits");
  expect_error_starting_with([&] { quantized_matmul(x, p, s, b, true, 64, 4); }, "[quantized_matmul]");
  expect_error_starting_with([&] { quantized_matmul(x, p, slice(s, {0, 0}, {4, 2}), b, true, 32, 4); },
                             "[quantized_matmul] For a packed weight");
  expect_error_starting_with([&] { quantized_matmul(testing::random_array({2, 64}), p, s, b, true, 32, 4); },
                             "[quantized_matmul] The last dimension of x");
  expect_error_starting_with([&] { quantized_matmul(x, astype(p, int32), s, b, true, 32, 4); },
                             "[quantized_matmul] The packed weight must be uint32");
  expect_error_starting_with([&] { dequantize(p, s, b, 32, 8); }, "[dequantize]");
}

}  // namespace
}  // namespace tessera
