#include "tessera/random.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "backend/cpu/random.h"
#include "core/primitives/random.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera::random {

namespace {

// The global key: next() splits it into a new state and a key for the caller, on the host.
class KeySequence {
 public:
  explicit KeySequence(uint64_t seed) { reset(seed); }

  void reset(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    k0_ = static_cast<uint32_t>(seed >> 32);
    k1_ = static_cast<uint32_t>(seed);
  }

  // Equivalent to `state, key = split(state)`.
  array next() {
    std::lock_guard<std::mutex> lock(mutex_);
    uint32_t words[4];
    cpu::for_each_random_word(k0_, k1_, 4, [&](int64_t i, uint32_t w) { words[i] = w; });
    k0_ = words[0];
    k1_ = words[1];
    return array(std::vector<uint32_t>{words[2], words[3]}, Shape{2}, uint32);
  }

 private:
  std::mutex mutex_;
  uint32_t k0_ = 0, k1_ = 0;
};

KeySequence& key_sequence() {
  static KeySequence sequence(static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
  return sequence;
}

std::string describe(const array& a) { return "shape " + shape_to_string(a.shape()) + " and dtype " + to_string(a.dtype()); }

array resolve_key(const std::optional<array>& key, const char* op) {
  if (!key) return key_sequence().next();
  if (key->dtype() != uint32 || key->shape() != Shape{2}) {
    throw std::invalid_argument(std::string("[") + op + "] Expected a key of shape (2) and dtype uint32, got " +
                                describe(*key) + ".");
  }
  return *key;
}

void check_shape(const Shape& shape, const char* op) {
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument(std::string("[") + op + "] Negative dimension in shape " + shape_to_string(shape) + ".");
  }
}

void check_float_dtype(Dtype dtype, const char* op) {
  if (dtype != float32 && dtype != bfloat16 && dtype != float16) {
    throw std::invalid_argument(std::string("[") + op + "] dtype must be float32, bfloat16 or float16, got " +
                                to_string(dtype) + ".");
  }
}

// Whether `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  }
  return true;
}

// `a` as float32, either one element or materialized with `shape` (what RandomUniform reads).
array bound_for(const array& a, const Shape& shape, const char* op, Device d) {
  if (!broadcasts_to(a.shape(), shape)) {
    throw std::invalid_argument(std::string("[") + op + "] Bound of shape " + shape_to_string(a.shape()) +
                                " cannot be broadcast to shape " + shape_to_string(shape) + ".");
  }
  array f = astype(a, float32, d);
  if (f.size() == 1) return f;
  return contiguous(broadcast_to(f, shape, d), d);
}

}  // namespace

array key(uint64_t seed) {
  return array(std::vector<uint32_t>{static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed)}, Shape{2}, uint32);
}

void seed(uint64_t seed) { key_sequence().reset(seed); }

array bits(Shape shape, const std::optional<array>& key, StreamOrDevice s) {
  Device d = to_device(s, "random::bits");
  check_shape(shape, "random::bits");
  array k = resolve_key(key, "random::bits");
  return array(std::move(shape), uint32, std::make_shared<RandomBits>(d), {k});
}

std::vector<array> split(const array& key, int num, StreamOrDevice s) {
  if (num < 1) throw std::invalid_argument("[random::split] num must be positive, got " + std::to_string(num) + ".");
  array k = resolve_key(key, "random::split");
  array words = bits({num, 2}, k, s);
  std::vector<array> keys;
  for (int i = 0; i < num; ++i) keys.push_back(reshape(slice(words, {i, 0}, {i + 1, 2}, s), {2}, s));
  return keys;
}

array uniform(const array& low, const array& high, Shape shape, Dtype dtype, const std::optional<array>& key,
              StreamOrDevice s) {
  const char* op = "random::uniform";
  Device d = to_device(s, op);
  check_shape(shape, op);
  check_float_dtype(dtype, op);
  array k = resolve_key(key, op);
  array lo = bound_for(low, shape, op, d);
  array hi = bound_for(high, shape, op, d);
  return array(std::move(shape), dtype, std::make_shared<RandomUniform>(d), {k, lo, hi});
}

array uniform(Shape shape, Dtype dtype, const std::optional<array>& key, StreamOrDevice s) {
  return uniform(array(0.0f), array(1.0f), std::move(shape), dtype, key, s);
}

array normal(Shape shape, Dtype dtype, float loc, float scale, const std::optional<array>& key, StreamOrDevice s) {
  const char* op = "random::normal";
  Device d = to_device(s, op);
  check_shape(shape, op);
  check_float_dtype(dtype, op);
  array k = resolve_key(key, op);
  return array(std::move(shape), dtype, std::make_shared<RandomNormal>(d, loc, scale), {k});
}

array truncated_normal(const array& lower, const array& upper, Shape shape, Dtype dtype,
                       const std::optional<array>& key, StreamOrDevice s) {
  const char* op = "random::truncated_normal";
  check_float_dtype(dtype, op);
  // Inverse-CDF sampling: uniform between the CDF values of the bounds, mapped back.
  const float sqrt2 = std::sqrt(2.0f);
  array lo = astype(lower, float32, s), hi = astype(upper, float32, s);
  array u = uniform(erf(divide(lo, array(sqrt2), s), s), erf(divide(hi, array(sqrt2), s), s), std::move(shape),
                    float32, key, s);
  array out = multiply(erfinv(u, s), array(sqrt2), s);
  return astype(clip(out, lo, hi, s), dtype, s);
}

array bernoulli(const array& p, Shape shape, const std::optional<array>& key, StreamOrDevice s) {
  const char* op = "random::bernoulli";
  if (!is_floating_point(p.dtype())) {
    throw std::invalid_argument(std::string("[") + op + "] p must be a floating point array, got " + describe(p) + ".");
  }
  if (!broadcasts_to(p.shape(), shape)) {
    throw std::invalid_argument(std::string("[") + op + "] p of shape " + shape_to_string(p.shape()) +
                                " cannot be broadcast to shape " + shape_to_string(shape) + ".");
  }
  return less(uniform(std::move(shape), float32, key, s), astype(p, float32, s), s);
}

array bernoulli(float p, Shape shape, const std::optional<array>& key, StreamOrDevice s) {
  return bernoulli(array(p), std::move(shape), key, s);
}

array randint(const array& low, const array& high, Shape shape, Dtype dtype, const std::optional<array>& key,
              StreamOrDevice s) {
  if (!is_integral(dtype) || dtype == bool_) {
    throw std::invalid_argument("[random::randint] dtype must be an integer type, got " + to_string(dtype) + ".");
  }
  array u = uniform(low, high, std::move(shape), float32, key, s);
  return astype(floor(u, s), dtype, s);
}

array gumbel(Shape shape, Dtype dtype, const std::optional<array>& key, StreamOrDevice s) {
  check_float_dtype(dtype, "random::gumbel");
  // u in [smallest normal float, 1): both logs stay finite.
  array u = uniform(array(std::numeric_limits<float>::min()), array(1.0f), std::move(shape), float32, key, s);
  return astype(negative(log(negative(log(u, s), s), s), s), dtype, s);
}

array categorical(const array& logits, int axis, std::optional<int> num_samples, const std::optional<array>& key,
                  StreamOrDevice s) {
  const char* op = "random::categorical";
  if (!is_floating_point(logits.dtype())) {
    throw std::invalid_argument(std::string("[") + op + "] logits must be floating point, got " + describe(logits) + ".");
  }
  if (logits.ndim() == 0) throw std::invalid_argument(std::string("[") + op + "] logits must have at least one dimension.");
  int ax = normalize_axis(axis, static_cast<int>(logits.ndim()), op);
  array x = astype(logits, float32, s);
  if (!num_samples) return argmax(add(x, gumbel(x.shape(), float32, key, s), s), ax, false, s);
  if (*num_samples < 1) {
    throw std::invalid_argument(std::string("[") + op + "] num_samples must be positive, got " +
                                std::to_string(*num_samples) + ".");
  }
  // [..., C] -> [..., 1, C] + noise [..., num_samples, C]: one Gumbel-max draw per sample.
  x = expand_dims(moveaxis(x, ax, -1, s), -2, s);
  Shape noise_shape = x.shape();
  noise_shape[noise_shape.size() - 2] = *num_samples;
  return argmax(add(x, gumbel(noise_shape, float32, key, s), s), -1, false, s);
}

}  // namespace tessera::random
