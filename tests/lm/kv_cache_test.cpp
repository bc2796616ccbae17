#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <set>

#include "tessera/lm/kv_cache.h"
#include "tessera/ops.h"

namespace tx = tessera;
using tx::array;
using tx::lm::AttentionMask;
using tx::lm::RotatingKVCache;
using tx::lm::StandardKVCache;

namespace {

// Keys/values [1, 1, T, 2] whose entries are the token positions start..start+T-1, so that what
// a cache returns tells which tokens it kept, in which slots.
std::pair<array, array> position_kv(int start, int T) {
  std::vector<float> keys;
  std::vector<float> values;
  for (int t = 0; t < T; ++t) {
    keys.insert(keys.end(), {float(start + t), float(start + t)});
    values.insert(values.end(), {float(-(start + t)), float(-(start + t))});
  }
  return {array(keys, {1, 1, T, 2}), array(values, {1, 1, T, 2})};
}

std::vector<int> positions_of(array keys, array values) {
  auto k = keys.to_vector<float>();
  auto v = values.to_vector<float>();
  std::vector<int> out;
  for (size_t i = 0; i < k.size(); i += 2) {
    EXPECT_EQ(k[i], k[i + 1]);
    EXPECT_EQ(v[i], -k[i]) << "values and keys disagree at slot " << i / 2;
    out.push_back(static_cast<int>(k[i]));
  }
  return out;
}

// The mask as a dense [T][Tk] matrix of what each query may attend to, as
// scaled_dot_product_attention interprets it.
std::vector<std::vector<bool>> dense(AttentionMask m, int T, int Tk) {
  std::vector<std::vector<bool>> out(T, std::vector<bool>(Tk, true));
  if (m.mode == "causal") {
    EXPECT_FALSE(m.mask.has_value());
    for (int i = 0; i < T; ++i)
      for (int j = 0; j < Tk; ++j) out[i][j] = j <= i + Tk - T;
    return out;
  }
  EXPECT_EQ(m.mode, "");
  if (!m.mask) return out;
  EXPECT_EQ(m.mask->dtype(), tx::bool_);
  array b = tx::broadcast_to(*m.mask, {T, Tk});
  auto flat = b.to_vector<bool>();
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < Tk; ++j) out[i][j] = flat[i * Tk + j];
  return out;
}

}  // namespace

TEST(StandardKVCache, GrowsInStepsAndReturnsEverything) {
  StandardKVCache cache;
  EXPECT_EQ(cache.offset(), 0);
  EXPECT_TRUE(cache.empty());
  auto [k1, v1] = position_kv(0, 1);
  auto [ks, vs] = cache.update_and_fetch(k1, v1);
  EXPECT_EQ(cache.offset(), 1);
  EXPECT_EQ(cache.capacity(), 256);
  EXPECT_EQ(ks.shape(), (tx::Shape{1, 1, 1, 2}));

  auto [k2, v2] = position_kv(1, 255);
  std::tie(ks, vs) = cache.update_and_fetch(k2, v2);
  EXPECT_EQ(cache.offset(), 256);
  EXPECT_EQ(cache.capacity(), 256);

  auto [k3, v3] = position_kv(256, 1);
  std::tie(ks, vs) = cache.update_and_fetch(k3, v3);
  EXPECT_EQ(cache.offset(), 257);
  EXPECT_EQ(cache.capacity(), 512);
  std::vector<int> expected(257);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(positions_of(ks, vs), expected);
}

TEST(StandardKVCache, LongPrefillAllocatesWholeSteps) {
  StandardKVCache cache;
  auto [k, v] = position_kv(0, 300);
  auto [ks, vs] = cache.update_and_fetch(k, v);
  EXPECT_EQ(cache.capacity(), 512);
  EXPECT_EQ(ks.shape(2), 300);
  auto [k2, v2] = position_kv(300, 600);
  std::tie(ks, vs) = cache.update_and_fetch(k2, v2);
  EXPECT_EQ(cache.offset(), 900);
  // as mlx-lm: storage cut to the 300 used positions, then 3 more steps of 256 appended
  EXPECT_EQ(cache.capacity(), 300 + 3 * 256);
  std::vector<int> expected(900);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(positions_of(ks, vs), expected);
}

TEST(StandardKVCache, TrimDropsTheLastTokens) {
  StandardKVCache cache;
  auto [k, v] = position_kv(0, 10);
  cache.update_and_fetch(k, v);
  EXPECT_TRUE(cache.is_trimmable());
  EXPECT_EQ(cache.trim(3), 3);
  EXPECT_EQ(cache.offset(), 7);
  auto [k2, v2] = position_kv(7, 2);
  auto [ks, vs] = cache.update_and_fetch(k2, v2);
  EXPECT_EQ(positions_of(ks, vs), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(cache.trim(100), 9);
  EXPECT_EQ(cache.offset(), 0);
}

TEST(StandardKVCache, StateRoundTrip) {
  StandardKVCache cache;
  auto [k, v] = position_kv(0, 5);
  cache.update_and_fetch(k, v);
  auto state = cache.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].shape(2), 5);
  StandardKVCache restored;
  restored.set_state(state);
  EXPECT_EQ(restored.offset(), 5);
  auto [k2, v2] = position_kv(5, 1);
  auto [ks, vs] = restored.update_and_fetch(k2, v2);
  EXPECT_EQ(positions_of(ks, vs), (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(StandardKVCache, RejectsMalformedUpdates) {
  StandardKVCache cache;
  EXPECT_THROW(cache.update_and_fetch(tx::zeros({1, 2, 3}), tx::zeros({1, 2, 3})), std::invalid_argument);
  EXPECT_THROW(cache.update_and_fetch(tx::zeros({1, 1, 2, 4}), tx::zeros({1, 1, 3, 4})), std::invalid_argument);
}

TEST(AttentionMasks, MatchBruteForce) {
  for (int T : {1, 3, 8}) {
    for (int offset : {0, 5, 20}) {
      for (std::optional<int> window : {std::optional<int>{}, std::optional<int>{4}, std::optional<int>{16}}) {
        AttentionMask m = tx::lm::create_attention_mask(T, offset, window);
        auto got = dense(m, T, offset + T);
        for (int i = 0; i < T; ++i) {
          for (int j = 0; j < offset + T; ++j) {
            int p = offset + i;
            bool want = j <= p && (!window || j > p - *window);
            ASSERT_EQ(got[i][j], want) << "T=" << T << " offset=" << offset << " window="
                                       << window.value_or(-1) << " query " << i << " key " << j;
          }
        }
        if (!window || offset + T <= *window) {
          EXPECT_FALSE(m.mask.has_value()) << "an explicit mask where none is needed";
          EXPECT_EQ(m.mode, T == 1 ? "" : "causal");
        }
      }
    }
  }
}

TEST(AttentionMasks, ExplicitCausalMask) {
  array m = tx::lm::create_causal_mask(2, 1, 2);
  EXPECT_EQ(m.shape(), (tx::Shape{2, 3}));
  EXPECT_EQ(m.to_vector<bool>(), (std::vector<bool>{true, true, false, false, true, true}));
}

TEST(StandardKVCache, MaskFollowsOffset) {
  StandardKVCache cache;
  auto [k, v] = position_kv(0, 6);
  cache.update_and_fetch(k, v);
  auto got = dense(cache.make_mask(2, 3), 2, 8);
  // queries at positions 6 and 7 with a window of 3
  EXPECT_EQ(got[0], (std::vector<bool>{false, false, false, false, true, true, true, false}));
  EXPECT_EQ(got[1], (std::vector<bool>{false, false, false, false, false, true, true, true}));
}

namespace {

// Feeds `chunks` through a rotating cache and checks, at every step, that the mask over the
// returned keys lets each query see exactly the tokens a one-token-at-a-time run keeps: the
// first `keep`, and the last max_size - keep up to itself (within the window, if any).
void check_rotating(int max_size, int keep, std::optional<int> window, const std::vector<int>& chunks) {
  RotatingKVCache cache(max_size, keep);
  int offset = 0;
  for (int T : chunks) {
    AttentionMask m = cache.make_mask(T, window);
    auto [k, v] = position_kv(offset, T);
    auto [ks, vs] = cache.update_and_fetch(k, v);
    std::vector<int> kept = positions_of(ks, vs);
    int Tk = static_cast<int>(kept.size());
    if (T == 1) {
      EXPECT_LE(Tk, max_size);
    } else {
      EXPECT_LE(Tk, max_size - 1 + T);
    }
    auto got = dense(m, T, Tk);
    for (int i = 0; i < T; ++i) {
      int p = offset + i;
      std::set<int> seen;
      for (int j = 0; j < Tk; ++j) {
        if (got[i][j]) seen.insert(kept[j]);
      }
      std::set<int> want;
      for (int q = 0; q <= p; ++q) {
        bool in_window = !window || q > p - *window;
        bool kept_by_cache = q < keep || q > p - (max_size - keep);
        if (in_window && kept_by_cache) want.insert(q);
      }
      ASSERT_EQ(seen, want) << "max_size " << max_size << " keep " << keep << " window " << window.value_or(-1)
                            << ": query at position " << p << " (chunk of " << T << ")";
    }
    offset += T;
    EXPECT_EQ(cache.offset(), offset);
  }
}

}  // namespace

TEST(RotatingKVCache, OneTokenAtATimeKeepsPrefixAndRecentWindow) {
  check_rotating(8, 4, {}, std::vector<int>(30, 1));
  check_rotating(8, 0, {}, std::vector<int>(30, 1));
}

TEST(RotatingKVCache, MultiTokenUpdatesAndMasks) {
  std::vector<int> chunks = {5, 1, 1, 7, 1, 1, 1, 3, 1, 12, 1, 1, 2, 1};
  check_rotating(8, 4, {}, chunks);
  check_rotating(8, 0, {}, chunks);
  check_rotating(12, 4, {}, chunks);
  check_rotating(8, 4, 5, chunks);
  check_rotating(12, 0, 6, chunks);
  check_rotating(16, 4, 6, std::vector<int>(40, 1));
}

TEST(RotatingKVCache, FullBufferHoldsPrefixAndLatest) {
  RotatingKVCache cache(8, 4);
  for (int t = 0; t < 20; ++t) {
    auto [k, v] = position_kv(t, 1);
    auto [ks, vs] = cache.update_and_fetch(k, v);
    if (t == 19) {
      auto kept = positions_of(ks, vs);
      std::multiset<int> got(kept.begin(), kept.end());
      EXPECT_EQ(got, (std::multiset<int>{0, 1, 2, 3, 16, 17, 18, 19}));
    }
  }
}

TEST(RotatingKVCache, TrimOnlyBeforeWrapping) {
  RotatingKVCache cache(16, 4);
  auto [k, v] = position_kv(0, 6);
  cache.update_and_fetch(k, v);
  EXPECT_TRUE(cache.is_trimmable());
  EXPECT_EQ(cache.trim(2), 2);
  EXPECT_EQ(cache.offset(), 4);
  auto [k2, v2] = position_kv(4, 1);
  auto [ks, vs] = cache.update_and_fetch(k2, v2);
  EXPECT_EQ(positions_of(ks, vs), (std::vector<int>{0, 1, 2, 3, 4}));
  for (int t = 5; t < 20; ++t) {
    auto [kt, vt] = position_kv(t, 1);
    cache.update_and_fetch(kt, vt);
  }
  EXPECT_FALSE(cache.is_trimmable());
  EXPECT_EQ(cache.trim(1), 0);
  EXPECT_EQ(cache.offset(), 20);
}

TEST(RotatingKVCache, StateAndMetadataRestoreTheCache) {
  std::vector<int> chunks = {3, 1, 1, 9, 1, 1, 1};
  RotatingKVCache original(8, 4);
  int offset = 0;
  for (int T : chunks) {
    auto [k, v] = position_kv(offset, T);
    original.update_and_fetch(k, v);
    offset += T;
  }
  RotatingKVCache restored(100, 0);
  restored.set_state(original.state());
  restored.set_meta_state(original.meta_state());
  EXPECT_EQ(restored.max_size(), 8);
  EXPECT_EQ(restored.keep(), 4);
  EXPECT_EQ(restored.offset(), offset);
  for (int T : {1, 2, 1, 1}) {
    auto [k, v] = position_kv(offset, T);
    AttentionMask ma = original.make_mask(T, 3);
    AttentionMask mb = restored.make_mask(T, 3);
    auto [ka, va] = original.update_and_fetch(k, v);
    auto [kb, vb] = restored.update_and_fetch(k, v);
    auto pa = positions_of(ka, va);
    auto pb = positions_of(kb, vb);
    EXPECT_EQ(pa, pb);
    int Tk = static_cast<int>(pa.size());
    EXPECT_EQ(dense(ma, T, Tk), dense(mb, T, Tk));
    offset += T;
  }
}

TEST(RotatingKVCache, RejectsBadMetadataAndSizes) {
  EXPECT_THROW(RotatingKVCache(4, 4), std::invalid_argument);
  RotatingKVCache cache(8, 4);
  EXPECT_THROW(cache.set_meta_state({{"keep", "4"}, {"max_size", "x"}, {"offset", "0"}, {"idx", "0"}}),
               std::invalid_argument);
  EXPECT_THROW(cache.set_meta_state({{"keep", "4"}}), std::invalid_argument);
}
