// Random numbers from counter-based, splittable keys (threefry-2x32, as in JAX and MLX).
//
// A key is a uint32 array of shape (2,). The same key always gives the same numbers; split
// derives independent keys. Ops called without a key draw a fresh one from a global key
// sequence, which seed() resets.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tessera/array.h"
#include "tessera/device.h"

namespace tessera::random {

// The key of a seed: {seed >> 32, seed & 0xffffffff}.
array key(uint64_t seed);
// `num` new keys derived from `key`.
std::vector<array> split(const array& key, int num = 2, StreamOrDevice s = {});
// Resets the global key sequence.
void seed(uint64_t seed);

// Uniformly distributed uint32 bits.
array bits(Shape shape, const std::optional<array>& key = {}, StreamOrDevice s = {});

// Uniform on [low, high) (low and high broadcast against shape), floating dtype.
array uniform(const array& low, const array& high, Shape shape, Dtype dtype = float32,
              const std::optional<array>& key = {}, StreamOrDevice s = {});
array uniform(Shape shape, Dtype dtype = float32, const std::optional<array>& key = {}, StreamOrDevice s = {});

// Normal with mean loc and standard deviation scale.
array normal(Shape shape, Dtype dtype = float32, float loc = 0.0f, float scale = 1.0f,
             const std::optional<array>& key = {}, StreamOrDevice s = {});

// Standard normal conditioned on lower < x < upper (bounds broadcast against shape).
array truncated_normal(const array& lower, const array& upper, Shape shape, Dtype dtype = float32,
                       const std::optional<array>& key = {}, StreamOrDevice s = {});

// True with probability p (broadcast against shape).
array bernoulli(const array& p, Shape shape, const std::optional<array>& key = {}, StreamOrDevice s = {});
array bernoulli(float p = 0.5f, Shape shape = {}, const std::optional<array>& key = {}, StreamOrDevice s = {});

// Integers uniform on [low, high).
array randint(const array& low, const array& high, Shape shape, Dtype dtype = int32,
              const std::optional<array>& key = {}, StreamOrDevice s = {});

// Standard Gumbel samples.
array gumbel(Shape shape, Dtype dtype = float32, const std::optional<array>& key = {}, StreamOrDevice s = {});

// Indices drawn from the categorical distributions given by unnormalized log-probabilities
// along `axis` (Gumbel-max). The result has logits' shape without `axis`; with num_samples,
// num_samples draws per distribution are appended as the last dimension. dtype uint32.
array categorical(const array& logits, int axis = -1, std::optional<int> num_samples = {},
                  const std::optional<array>& key = {}, StreamOrDevice s = {});

}  // namespace tessera::random
