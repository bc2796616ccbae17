#include "backend/cpu/random.h"

#include <cmath>

namespace tessera::cpu {

namespace {

constexpr int kRotations[8] = {13, 15, 26, 6, 17, 29, 16, 24};

inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Inverse error function in single precision (M. Giles, "Approximating the erfinv function").
float erfinv(float x) {
  float w = -std::log((1.0f - x) * (1.0f + x));
  float p;
  if (w < 5.0f) {
    w -= 2.5f;
    p = 2.81022636e-08f;
    p = 3.43273939e-07f + p * w;
    p = -3.5233877e-06f + p * w;
    p = -4.39150654e-06f + p * w;
    p = 0.00021858087f + p * w;
    p = -0.00125372503f + p * w;
    p = -0.00417768164f + p * w;
    p = 0.246640727f + p * w;
    p = 1.50140941f + p * w;
  } else {
    w = std::sqrt(w) - 3.0f;
    p = -0.000200214257f;
    p = 0.000100950558f + p * w;
    p = 0.00134934322f + p * w;
    p = -0.00367342844f + p * w;
    p = 0.00573950773f + p * w;
    p = -0.0076224613f + p * w;
    p = 0.00943887047f + p * w;
    p = 1.00167406f + p * w;
    p = 2.83297682f + p * w;
  }
  return p * x;
}

}  // namespace

std::pair<uint32_t, uint32_t> threefry2x32(uint32_t key0, uint32_t key1, uint32_t count0, uint32_t count1) {
  const uint32_t ks[3] = {key0, key1, key0 ^ key1 ^ 0x1BD11BDAu};
  uint32_t x0 = count0 + ks[0];
  uint32_t x1 = count1 + ks[1];
  for (int group = 0; group < 5; ++group) {
    for (int i = 0; i < 4; ++i) {
      x0 += x1;
      x1 = rotl(x1, kRotations[(group % 2) * 4 + i]) ^ x0;
    }
    x0 += ks[(group + 1) % 3];
    x1 += ks[(group + 2) % 3] + static_cast<uint32_t>(group + 1);
  }
  return {x0, x1};
}

float normal_from_word(uint32_t word) {
  // Odd multiples of 2^-24 in (-1, 1): symmetric around 0 and never +-1.
  auto k = static_cast<int32_t>(word >> 8);
  float u = static_cast<float>(2 * k - ((1 << 24) - 1)) * 0x1p-24f;
  return std::sqrt(2.0f) * erfinv(u);
}

}  // namespace tessera::cpu
