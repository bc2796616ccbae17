#include "core/primitives/random.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "backend/cpu/random.h"
#include "core/allocator.h"
#include "tessera/half.h"

namespace tessera {

namespace {

std::pair<uint32_t, uint32_t> read_key(const array& key) {
  const uint32_t* k = key.data<uint32_t>();
  return {k[0], k[key.strides()[0]]};
}

// How a float dtype stores a value, and the next representable value towards -inf.
struct F32Storage {
  using T = float;
  static T from(float v) { return v; }
  static float to(T v) { return v; }
  static T below(T v) { return std::nextafter(v, -std::numeric_limits<float>::infinity()); }
};

template <uint16_t (*FromFloat)(float), float (*ToFloat)(uint16_t)>
struct Half16Storage {
  using T = uint16_t;
  static T from(float v) { return FromFloat(v); }
  static float to(T v) { return ToFloat(v); }
  // Sign-magnitude bits: step the magnitude up for negatives, down for positives.
  static T below(T v) {
    if (v == 0x0000) return 0x8001;
    return (v & 0x8000) ? static_cast<T>(v + 1) : static_cast<T>(v - 1);
  }
};

using Bf16Storage = Half16Storage<detail::float_to_bf16_bits, detail::bf16_bits_to_float>;
using F16Storage = Half16Storage<detail::float_to_f16_bits, detail::f16_bits_to_float>;

template <class Storage>
void fill_uniform(uint32_t k0, uint32_t k1, const array& low, const array& high, array& out) {
  const float* lo = low.data<float>();
  const float* hi = high.data<float>();
  const bool lo_scalar = low.size() == 1, hi_scalar = high.size() == 1;
  auto* dst = out.data<typename Storage::T>();
  cpu::for_each_random_word(k0, k1, static_cast<int64_t>(out.size()), [&](int64_t i, uint32_t word) {
    float l = lo[lo_scalar ? 0 : i], h = hi[hi_scalar ? 0 : i];
    auto v = Storage::from(l + (h - l) * cpu::unit_float(word));
    // Rounding (to f32 or to the output dtype) may reach high: step back below it.
    if (Storage::to(v) >= h && h > l) {
      v = Storage::from(h);
      while (Storage::to(v) >= h) v = Storage::below(v);
    }
    dst[i] = v;
  });
}

template <class Storage>
void fill_normal(uint32_t k0, uint32_t k1, float loc, float scale, array& out) {
  auto* dst = out.data<typename Storage::T>();
  cpu::for_each_random_word(k0, k1, static_cast<int64_t>(out.size()), [&](int64_t i, uint32_t word) {
    dst[i] = Storage::from(loc + scale * cpu::normal_from_word(word));
  });
}

}  // namespace

void RandomBits::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  auto [k0, k1] = read_key(inputs[0]);
  uint32_t* dst = out.data<uint32_t>();
  cpu::for_each_random_word(k0, k1, static_cast<int64_t>(out.size()), [&](int64_t i, uint32_t word) { dst[i] = word; });
}

void RandomUniform::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  auto [k0, k1] = read_key(inputs[0]);
  if (out.dtype() == float32) return fill_uniform<F32Storage>(k0, k1, inputs[1], inputs[2], out);
  if (out.dtype() == bfloat16) return fill_uniform<Bf16Storage>(k0, k1, inputs[1], inputs[2], out);
  if (out.dtype() == float16) return fill_uniform<F16Storage>(k0, k1, inputs[1], inputs[2], out);
  throw std::invalid_argument("[random::uniform] Unsupported dtype " + to_string(out.dtype()) + ".");
}

void RandomNormal::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  auto [k0, k1] = read_key(inputs[0]);
  if (out.dtype() == float32) return fill_normal<F32Storage>(k0, k1, loc_, scale_, out);
  if (out.dtype() == bfloat16) return fill_normal<Bf16Storage>(k0, k1, loc_, scale_, out);
  if (out.dtype() == float16) return fill_normal<F16Storage>(k0, k1, loc_, scale_, out);
  throw std::invalid_argument("[random::normal] Unsupported dtype " + to_string(out.dtype()) + ".");
}

}  // namespace tessera
