#include "backend/cpu/streaming_for.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace tessera::cpu {
namespace {

struct Call {
  int64_t begin, end;
  std::thread::id thread;
};

std::vector<Call> record(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& work = {}) {
  std::mutex mutex;
  std::vector<Call> calls;
  streaming_for(n, grain, [&](int64_t begin, int64_t end) {
    if (work) work(begin, end);
    std::lock_guard<std::mutex> lock(mutex);
    calls.push_back({begin, end, std::this_thread::get_id()});
  });
  return calls;
}

TEST(StreamingFor, CoversTheRangeExactlyOnceInWholeGrains) {
  for (auto [n, grain] : {std::pair<int64_t, int64_t>{1, 1}, {7, 3}, {64, 1}, {1000, 7}, {100000, 1}, {5, 10}}) {
    std::vector<int> hits(static_cast<size_t>(n), 0);
    for (const Call& c : record(n, grain)) {
      ASSERT_LT(c.begin, c.end);
      EXPECT_EQ(c.begin % grain, 0) << "n " << n << " grain " << grain;
      if (c.end != n) {
        EXPECT_EQ(c.end % grain, 0) << "n " << n << " grain " << grain;
      }
      for (int64_t i = c.begin; i < c.end; ++i) ++hits[i];
    }
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "index " << i << " n " << n << " grain " << grain;
  }
  EXPECT_TRUE(record(0, 4).empty());
}

// The first half is slow work, the second fast: the thread that owns the second half runs out
// first and takes over part of the first, so the first half is done by more than one thread.
TEST(StreamingFor, AThreadThatRunsOutTakesOverTheRestOfAnother) {
  if (num_threads() < 2) GTEST_SKIP() << "one thread";
  const int64_t n = 64;
  const std::vector<Call> calls = record(n, 1, [&](int64_t begin, int64_t end) {
    if (begin < n / 2) std::this_thread::sleep_for(std::chrono::milliseconds(2) * (std::min(end, n / 2) - begin));
  });
  std::set<std::thread::id> all, first_half;
  for (const Call& c : calls) {
    all.insert(c.thread);
    if (c.begin < n / 2) first_half.insert(c.thread);
  }
  if (all.size() < 2) GTEST_SKIP() << "the pool ran every piece on one thread";
  EXPECT_GE(first_half.size(), 2u);
}

}  // namespace
}  // namespace tessera::cpu
