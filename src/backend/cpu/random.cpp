#include "backend/cpu/random.h"

#include <cmath>

#include "backend/cpu/elementwise_ops.h"

namespace tessera::cpu {

namespace {

constexpr int kRotations[8] = {13, 15, 26, 6, 17, 29, 16, 24};

inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }


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
  return std::sqrt(2.0f) * erfinv_f(u);
}

}  // namespace tessera::cpu
