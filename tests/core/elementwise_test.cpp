#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "gradcheck.h"
#include "tessera/tessera.h"

namespace tx = tessera;
using tx::array;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const tx::Dtype kAllDtypes[] = {tx::bool_, tx::uint8, tx::uint32, tx::int8, tx::int32,
                                tx::int64, tx::float16, tx::bfloat16, tx::float32};

void expect_values(const array& a, const std::vector<float>& expected, float tol = 1e-5f) {
  auto got = a.to_vector<float>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (std::isinf(expected[i])) {
      EXPECT_EQ(got[i], expected[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], expected[i], tol * std::max(1.0f, std::abs(expected[i]))) << "element " << i;
    }
  }
}

template <typename E>
void expect_error(const std::function<void()>& fn, const std::string& prefix) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one starting with " << prefix;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
  }
}

}  // namespace

struct UnaryCase {
  const char* name;
  std::function<array(const array&)> op;
  std::function<float(float)> ref;
  std::vector<float> inputs;
};

TEST(Elementwise, UnaryMatchesReference) {
  const std::vector<float> general{-2.5f, -1.0f, -0.3f, 0.0f, 0.4f, 1.0f, 2.5f};
  const std::vector<float> positive{0.1f, 0.5f, 1.0f, 2.0f, 10.0f};
  const std::vector<float> unit{-0.9f, -0.5f, 0.0f, 0.3f, 0.99f};
  std::vector<UnaryCase> cases = {
      {"abs", [](const array& a) { return tx::abs(a); }, [](float x) { return std::fabs(x); }, general},
      {"negative", [](const array& a) { return tx::negative(a); }, [](float x) { return -x; }, general},
      {"sign", [](const array& a) { return tx::sign(a); }, [](float x) { return float((x > 0) - (x < 0)); }, general},
      {"exp", [](const array& a) { return tx::exp(a); }, [](float x) { return std::exp(x); }, general},
      {"expm1", [](const array& a) { return tx::expm1(a); }, [](float x) { return std::expm1(x); }, general},
      {"log", [](const array& a) { return tx::log(a); }, [](float x) { return std::log(x); }, positive},
      {"log1p", [](const array& a) { return tx::log1p(a); }, [](float x) { return std::log1p(x); }, positive},
      {"log2", [](const array& a) { return tx::log2(a); }, [](float x) { return std::log2(x); }, positive},
      {"log10", [](const array& a) { return tx::log10(a); }, [](float x) { return std::log10(x); }, positive},
      {"sqrt", [](const array& a) { return tx::sqrt(a); }, [](float x) { return std::sqrt(x); }, positive},
      {"rsqrt", [](const array& a) { return tx::rsqrt(a); }, [](float x) { return 1 / std::sqrt(x); }, positive},
      {"square", [](const array& a) { return tx::square(a); }, [](float x) { return x * x; }, general},
      {"reciprocal", [](const array& a) { return tx::reciprocal(a); }, [](float x) { return 1 / x; }, positive},
      {"sin", [](const array& a) { return tx::sin(a); }, [](float x) { return std::sin(x); }, general},
      {"cos", [](const array& a) { return tx::cos(a); }, [](float x) { return std::cos(x); }, general},
      {"tan", [](const array& a) { return tx::tan(a); }, [](float x) { return std::tan(x); }, unit},
      {"tanh", [](const array& a) { return tx::tanh(a); }, [](float x) { return std::tanh(x); }, general},
      {"sigmoid", [](const array& a) { return tx::sigmoid(a); }, [](float x) { return 1 / (1 + std::exp(-x)); },
       general},
      {"erf", [](const array& a) { return tx::erf(a); }, [](float x) { return std::erf(x); }, general},
      {"floor", [](const array& a) { return tx::floor(a); }, [](float x) { return std::floor(x); }, general},
      {"ceil", [](const array& a) { return tx::ceil(a); }, [](float x) { return std::ceil(x); }, general},
      {"round", [](const array& a) { return tx::round(a); }, [](float x) { return std::nearbyint(x); }, general},
  };
  for (const auto& c : cases) {
    std::vector<float> expected;
    for (float x : c.inputs) expected.push_back(c.ref(x));
    SCOPED_TRACE(c.name);
    array in(c.inputs, {static_cast<int64_t>(c.inputs.size())});
    expect_values(c.op(in), expected);
    // 16-bit floats compute in f32 and round once.
    for (auto dt : {tx::bfloat16, tx::float16}) {
      array out = c.op(tx::astype(in, dt));
      EXPECT_EQ(out.dtype(), dt);
      std::vector<float> rounded;
      for (float x : c.inputs) {
        float xr = static_cast<float>(tx::astype(array(x), dt).item<float>());
        rounded.push_back(c.ref(xr));
      }
      expect_values(out, rounded, dt == tx::bfloat16 ? 1e-2f : 2e-3f);
    }
  }
}

TEST(Elementwise, ErfinvInvertsErf) {
  array x({-0.999f, -0.7f, -0.1f, 0.0f, 0.25f, 0.5f, 0.9f, 0.9999f});
  expect_values(tx::erf(tx::erfinv(x)), x.to_vector<float>(), 1e-5f);
  expect_values(tx::erfinv(array({0.5f})), {0.47693628f}, 1e-6f);
  expect_values(tx::erfinv(array({1.0f, -1.0f, 2.0f})), {kInf, -kInf, NAN});
}

TEST(Elementwise, RoundIsHalfToEven) {
  expect_values(tx::round(array({0.5f, 1.5f, 2.5f, -0.5f, -1.5f})), {0.0f, 2.0f, 2.0f, -0.0f, -2.0f});
}

TEST(Elementwise, UnaryDtypes) {
  array ints({-3, 0, 4});
  EXPECT_EQ(tx::abs(ints).dtype(), tx::int32);
  EXPECT_EQ(tx::abs(ints).to_vector<int>(), (std::vector<int>{3, 0, 4}));
  EXPECT_EQ(tx::square(ints).to_vector<int>(), (std::vector<int>{9, 0, 16}));
  EXPECT_EQ(tx::sign(ints).to_vector<int>(), (std::vector<int>{-1, 0, 1}));
  EXPECT_EQ(tx::exp(ints).dtype(), tx::float32);  // float math on ints promotes
  expect_values(tx::sqrt(array({4, 9})), {2.0f, 3.0f});
  EXPECT_EQ(tx::logical_not(ints).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  array f({1.0f, NAN, kInf, -kInf});
  EXPECT_EQ(tx::isnan(f).to_vector<bool>(), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(tx::isinf(f).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(tx::isfinite(f).to_vector<bool>(), (std::vector<bool>{true, false, false, false}));
  expect_values(tx::nan_to_num(f, 0.0f, 5.0f, -5.0f), {1.0f, 0.0f, 5.0f, -5.0f});
  for (auto dt : kAllDtypes) {
    if (dt == tx::bool_) continue;
    array a = tx::astype(array({1.0f, 2.0f}), dt);
    EXPECT_EQ(tx::abs(a).to_vector<float>(), (std::vector<float>{1.0f, 2.0f})) << tx::to_string(dt);
    EXPECT_EQ(tx::square(a).to_vector<float>(), (std::vector<float>{1.0f, 4.0f})) << tx::to_string(dt);
  }
  expect_error<std::invalid_argument>([] { tx::negative(array(true)); }, "[negative] ");
}

TEST(Elementwise, BinaryMatchesReference) {
  array a({-3.0f, -1.5f, 0.0f, 2.0f, 7.0f});
  array b({2.0f, 0.5f, 3.0f, -4.0f, 2.0f});
  expect_values(a + b, {-1.0f, -1.0f, 3.0f, -2.0f, 9.0f});
  expect_values(a - b, {-5.0f, -2.0f, -3.0f, 6.0f, 5.0f});
  expect_values(a * b, {-6.0f, -0.75f, 0.0f, -8.0f, 14.0f});
  expect_values(a / b, {-1.5f, -3.0f, 0.0f, -0.5f, 3.5f});
  expect_values(tx::power(tx::abs(a), b), {9.0f, std::pow(1.5f, 0.5f), 0.0f, 1.0f / 16, 49.0f});
  expect_values(tx::maximum(a, b), {2.0f, 0.5f, 3.0f, 2.0f, 7.0f});
  expect_values(tx::minimum(a, b), {-3.0f, -1.5f, 0.0f, -4.0f, 2.0f});
  expect_values(tx::floor_divide(a, b), {-2.0f, -3.0f, 0.0f, -1.0f, 3.0f});
  expect_values(tx::remainder(a, b), {1.0f, 0.0f, 0.0f, -2.0f, 1.0f});
  expect_values(tx::logaddexp(a, b), {std::log(std::exp(-3.0f) + std::exp(2.0f)),
                                      std::log(std::exp(-1.5f) + std::exp(0.5f)), std::log(1 + std::exp(3.0f)),
                                      std::log(std::exp(2.0f) + std::exp(-4.0f)), std::log(std::exp(7.0f) + std::exp(2.0f))});
  expect_values(tx::logaddexp(array({-kInf}), array({-kInf})), {-kInf});
  expect_values(tx::arctan2(a, b), {std::atan2(-3.0f, 2.0f), std::atan2(-1.5f, 0.5f), std::atan2(0.0f, 3.0f),
                                    std::atan2(2.0f, -4.0f), std::atan2(7.0f, 2.0f)});
  EXPECT_EQ((a == b).to_vector<bool>(), (std::vector<bool>{false, false, false, false, false}));
  EXPECT_EQ((a < b).to_vector<bool>(), (std::vector<bool>{true, true, true, false, false}));
  EXPECT_EQ((a <= a).to_vector<bool>(), (std::vector<bool>{true, true, true, true, true}));
  EXPECT_EQ((a > b).to_vector<bool>(), (std::vector<bool>{false, false, false, true, true}));
  EXPECT_EQ((a >= b).to_vector<bool>(), (std::vector<bool>{false, false, false, true, true}));
  EXPECT_EQ((a != b).to_vector<bool>(), (std::vector<bool>{true, true, true, true, true}));
  EXPECT_EQ(((a > 0.0f) && (b > 0.0f)).to_vector<bool>(), (std::vector<bool>{false, false, false, false, true}));
  EXPECT_EQ(((a > 0.0f) || (b > 0.0f)).to_vector<bool>(), (std::vector<bool>{true, true, true, true, true}));
  EXPECT_EQ((!(a > 0.0f)).to_vector<bool>(), (std::vector<bool>{true, true, true, false, false}));
  expect_values(-a, {3.0f, 1.5f, -0.0f, -2.0f, -7.0f});
  expect_values(a % b, {1.0f, 0.0f, 0.0f, -2.0f, 1.0f});
}

TEST(Elementwise, MaximumPropagatesNaN) {
  expect_values(tx::maximum(array({NAN, 1.0f}), array({1.0f, NAN})), {NAN, NAN});
  expect_values(tx::minimum(array({NAN, 1.0f}), array({1.0f, NAN})), {NAN, NAN});
}

TEST(Elementwise, IntegerArithmeticIsPythonLike) {
  array a({-7, 7, -7, 7, 5});
  array b({2, -2, -2, 2, 0});
  EXPECT_EQ(tx::floor_divide(a, b).to_vector<int>(), (std::vector<int>{-4, -4, 3, 3, 0}));
  EXPECT_EQ(tx::remainder(a, b).to_vector<int>(), (std::vector<int>{1, -1, -1, 1, 0}));
  EXPECT_EQ(tx::power(array({2, 3, -2}), array({10, 0, 3})).to_vector<int>(), (std::vector<int>{1024, 1, -8}));
  array mn({std::numeric_limits<int32_t>::min()});
  EXPECT_EQ(tx::floor_divide(mn, array({-1})).to_vector<int>()[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(tx::remainder(mn, array({-1})).to_vector<int>()[0], 0);
  EXPECT_EQ((array({7u, 3u}, {2}, tx::uint32) / array({2u, 2u}, {2}, tx::uint32)).to_vector<float>(),
            (std::vector<float>{3.5f, 1.5f}));
  EXPECT_EQ(tx::maximum(array({1, 5}), array({3, 2})).to_vector<int>(), (std::vector<int>{3, 5}));
}

TEST(Elementwise, EveryDtype) {
  for (auto dt : kAllDtypes) {
    SCOPED_TRACE(tx::to_string(dt));
    array a = tx::astype(array({0.0f, 1.0f, 2.0f, 3.0f}), dt);
    array b = tx::astype(array({1.0f, 1.0f, 0.0f, 2.0f}), dt);
    if (dt == tx::bool_) {
      EXPECT_EQ((a + b).to_vector<bool>(), (std::vector<bool>{true, true, true, true}));
      EXPECT_EQ((a * b).to_vector<bool>(), (std::vector<bool>{false, true, false, true}));
    } else {
      EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{1, 2, 2, 5}));
      EXPECT_EQ((a * b).to_vector<float>(), (std::vector<float>{0, 1, 0, 6}));
      EXPECT_EQ(tx::maximum(a, b).to_vector<float>(), (std::vector<float>{1, 1, 2, 3}));
      EXPECT_EQ((a + b).dtype(), dt);
    }
    EXPECT_EQ((a == b).to_vector<bool>(), (std::vector<bool>{false, true, false, dt == tx::bool_}));
    EXPECT_EQ((a < b).to_vector<bool>(), (std::vector<bool>{true, false, false, false}));
  }
}

TEST(Elementwise, Broadcasting) {
  array m = tx::reshape(tx::arange(0.0, 6.0, 1.0), {2, 3});
  array row({10.0f, 20.0f, 30.0f});
  array col = tx::reshape(array({100.0f, 200.0f}), {2, 1});
  expect_values(m + row, {10, 21, 32, 13, 24, 35});
  expect_values(row + m, {10, 21, 32, 13, 24, 35});
  expect_values(m + col, {100, 101, 102, 203, 204, 205});
  expect_values(col + row, {110, 120, 130, 210, 220, 230});
  EXPECT_EQ((col + row).shape(), (tx::Shape{2, 3}));
  expect_values(m * 2.0f, {0, 2, 4, 6, 8, 10});
  expect_values(2.0f - m, {2, 1, 0, -1, -2, -3});
  array a3 = tx::reshape(tx::arange(0.0, 24.0, 1.0), {2, 3, 4});
  array b3 = tx::reshape(array({1.0f, -1.0f}), {2, 1, 1});
  auto got = (a3 * b3).to_vector<float>();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(got[i], i < 12 ? i : -i);
  expect_error<std::invalid_argument>([&] { m + array({1.0f, 2.0f}); }, "[add] Shapes (2,3) and (2)");
  expect_error<std::invalid_argument>([&] { tx::where(m > 1.0f, m, array({1.0f, 2.0f})); }, "[where] ");
}

TEST(Elementwise, NonContiguousInputs) {
  array m = tx::reshape(tx::arange(0.0, 12.0, 1.0), {3, 4});
  array t = tx::transpose(m);  // (4, 3), strided
  array s = tx::slice(m, {0, 1}, {3, 4}, {1, 2});  // (3, 2)
  expect_values(t + 1.0f, {1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12});
  expect_values(t * t, {0, 16, 64, 1, 25, 81, 4, 36, 100, 9, 49, 121});
  expect_values(tx::exp(s) - tx::exp(s), {0, 0, 0, 0, 0, 0});
  expect_values(s, {1, 3, 5, 7, 9, 11});
  expect_values(s + array({100.0f, 200.0f}), {101, 203, 105, 207, 109, 211});
  expect_values(tx::sqrt(t), {0, 2, std::sqrt(8.0f), 1, std::sqrt(5.0f), 3, std::sqrt(2.0f), std::sqrt(6.0f),
                              std::sqrt(10.0f), std::sqrt(3.0f), std::sqrt(7.0f), std::sqrt(11.0f)});
  array bc = tx::broadcast_to(array({1.0f, 2.0f}), {3, 2});
  expect_values(bc + s, {2, 5, 6, 9, 10, 13});
  expect_values(tx::where(s > 4.0f, s, bc), {1, 2, 5, 7, 9, 11});
}

TEST(Elementwise, LargeArraysUseEveryPath) {
  // Big enough to be split across the thread pool.
  const int64_t n = 1 << 18;
  array x = tx::astype(tx::arange(0.0, static_cast<double>(n), 1.0), tx::float32);
  auto y = (x * 2.0f + 1.0f).to_vector<float>();
  for (int64_t i = 0; i < n; i += 4099) EXPECT_EQ(y[i], 2.0f * i + 1.0f);
  array m = tx::reshape(x, {512, 512});
  auto z = (tx::transpose(m) + tx::reshape(tx::arange(0.0, 512.0, 1.0), {512, 1})).to_vector<float>();
  for (int64_t i = 0; i < 512; i += 37) {
    for (int64_t j = 0; j < 512; j += 41) EXPECT_EQ(z[i * 512 + j], static_cast<float>(j * 512 + i + i));
  }
  auto e = tx::exp(tx::transpose(m) * 0.0f).to_vector<float>();
  EXPECT_EQ(e[12345], 1.0f);
}

TEST(Elementwise, EmptyArrays) {
  array e = tx::zeros({0, 3});
  EXPECT_EQ((e + 1.0f).shape(), (tx::Shape{0, 3}));
  EXPECT_EQ((e + array({1.0f, 2.0f, 3.0f})).to_vector<float>().size(), 0u);
  EXPECT_EQ(tx::exp(e).size(), 0u);
  EXPECT_EQ(tx::exp(tx::transpose(e)).to_vector<float>().size(), 0u);
  EXPECT_EQ((tx::zeros({2, 0}) * tx::zeros({1, 0})).shape(), (tx::Shape{2, 0}));
  EXPECT_EQ(tx::where(tx::zeros({0, 1}, tx::bool_), e, 1.0f).shape(), (tx::Shape{0, 3}));
}

TEST(Elementwise, WhereAndClip) {
  array c({1, 0, 1});
  expect_values(tx::where(c, array({1.0f, 2.0f, 3.0f}), 0.0f), {1, 0, 3});
  EXPECT_EQ(tx::where(c > 0, array({1, 2, 3}), array(-1)).dtype(), tx::int32);
  expect_values(tx::clip(array({-2.0f, 0.5f, 3.0f}), array(0.0f), array(1.0f)), {0, 0.5f, 1});
  expect_values(tx::clip(array({-2.0f, 0.5f, 3.0f}), std::nullopt, array(1.0f)), {-2, 0.5f, 1});
  EXPECT_EQ(tx::clip(tx::astype(array({-2.0f}), tx::bfloat16), array(0.0f), std::nullopt).dtype(), tx::bfloat16);
  expect_error<std::invalid_argument>([] { tx::clip(array({1.0f}), std::nullopt, std::nullopt); }, "[clip] ");
}

TEST(Elementwise, Allclose) {
  EXPECT_TRUE(tx::allclose(array({1.0f, 2.0f}), array({1.0f, 2.0000001f})));
  EXPECT_FALSE(tx::allclose(array({1.0f, 2.0f}), array({1.0f, 2.1f})));
  EXPECT_TRUE(tx::allclose(array({kInf}), array({kInf})));
  EXPECT_FALSE(tx::allclose(array({NAN}), array({NAN})));
}

TEST(Elementwise, UnaryVjps) {
  auto u = [](std::function<array(const array&)> op) {
    return [op](const std::vector<array>& x) { return op(x[0]); };
  };
  array general({-1.3f, -0.4f, 0.2f, 0.9f, 1.7f});
  array positive({0.3f, 0.7f, 1.2f, 2.5f});
  array unit({-0.8f, -0.2f, 0.1f, 0.6f});
  using tx::testing::check_vjp;
  check_vjp(u([](const array& a) { return tx::abs(a); }), {general});
  check_vjp(u([](const array& a) { return -a; }), {general});
  check_vjp(u([](const array& a) { return tx::exp(a); }), {general});
  check_vjp(u([](const array& a) { return tx::expm1(a); }), {general});
  check_vjp(u([](const array& a) { return tx::log(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::log1p(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::log2(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::log10(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::sqrt(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::rsqrt(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::square(a); }), {general});
  check_vjp(u([](const array& a) { return tx::reciprocal(a); }), {positive});
  check_vjp(u([](const array& a) { return tx::sin(a); }), {general});
  check_vjp(u([](const array& a) { return tx::cos(a); }), {general});
  check_vjp(u([](const array& a) { return tx::tan(a); }), {unit});
  check_vjp(u([](const array& a) { return tx::tanh(a); }), {general});
  check_vjp(u([](const array& a) { return tx::sigmoid(a); }), {general});
  check_vjp(u([](const array& a) { return tx::erf(a); }), {general});
  check_vjp(u([](const array& a) { return tx::erfinv(a); }), {unit});
  check_vjp(u([](const array& a) { return tx::floor(a) + a; }), {general});
  check_vjp(u([](const array& a) { return tx::astype(tx::astype(a, tx::bfloat16), tx::float32) * 0.0f + a; }),
            {general});
}

TEST(Elementwise, BinaryVjpsWithBroadcasting) {
  using tx::testing::check_vjp;
  array a = tx::reshape(array({0.5f, 1.25f, 2.0f, 0.7f, 1.5f, 0.9f}), {2, 3});
  array b({1.3f, 0.6f, 2.2f});
  array c = tx::reshape(array({0.8f, 1.9f}), {2, 1});
  auto bin = [](std::function<array(const array&, const array&)> op) {
    return [op](const std::vector<array>& x) { return op(x[0], x[1]); };
  };
  for (const auto& rhs : {b, c}) {
    check_vjp(bin([](const array& x, const array& y) { return x + y; }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return x - y; }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return x * y; }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return x / y; }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::power(x, y); }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::maximum(x, y); }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::minimum(x, y); }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::logaddexp(x, y); }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::arctan2(x, y); }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::remainder(x, y); }), {a, rhs});
    check_vjp(bin([](const array& x, const array& y) { return tx::where(x > y, x, y * 2.0f); }), {a, rhs});
  }
  check_vjp(bin([](const array& x, const array& y) { return x * 3.0f + tx::square(y); }), {b, b});
}
