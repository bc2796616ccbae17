#include "backend/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace tessera::cpu {
namespace {

// Records every range handed out and checks they tile [0, n) exactly once.
void expect_exact_cover(ThreadPool& pool, int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      ranges.emplace_back(begin, end);
    }
    for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " n " << n;
  EXPECT_LE(ranges.size(), static_cast<size_t>(pool.num_threads()));
  for (auto [begin, end] : ranges) {
    EXPECT_EQ(begin % grain, 0) << "range start not aligned to the grain";
    EXPECT_LT(begin, end);
    if (end != n) {
      EXPECT_GE(end - begin, grain);
    }
  }
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {1, 2, 3, 7, 64, 1000, 1001}) {
    for (int64_t grain : {1, 3, 16, 5000}) expect_exact_cover(pool, n, grain);
  }
}

TEST(ThreadPool, ZeroOrNegativeSizeDoesNothing) {
  ThreadPool pool(2);
  int calls = 0;
  pool.parallel_for(0, 1, [&](int64_t, int64_t) { ++calls; });
  pool.parallel_for(-5, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPool, SingleThreadPoolRunsInlineOnCaller) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  auto caller = std::this_thread::get_id();
  int calls = 0;
  pool.parallel_for(100, 1, [&](int64_t begin, int64_t end) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 100);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, UsesWorkerThreads) {
  ThreadPool pool(2);
  std::mutex mutex;
  std::set<std::thread::id> threads;
  // Each range waits until both ranges have started, which needs two threads.
  std::atomic<int> started{0};
  pool.parallel_for(2, 1, [&](int64_t, int64_t) {
    started.fetch_add(1);
    while (started.load() < 2) std::this_thread::yield();
    std::lock_guard<std::mutex> lock(mutex);
    threads.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(threads.size(), 2u);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  pool.parallel_for(30, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      auto outer = std::this_thread::get_id();
      pool.parallel_for(10, 1, [&](int64_t b, int64_t e) {
        EXPECT_EQ(std::this_thread::get_id(), outer);
        total.fetch_add(e - b);
      });
    }
  });
  EXPECT_EQ(total.load(), 300);
}

TEST(ThreadPool, RethrowsTheWorkersException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100, 1,
                                 [](int64_t begin, int64_t) {
                                   if (begin > 0) throw std::runtime_error("range failed");
                                 }),
               std::runtime_error);
  // The pool stays usable after an exception.
  expect_exact_cover(pool, 100, 1);
}

TEST(ThreadPool, ManyShortCallsAllComplete) {
  ThreadPool pool(2);
  int64_t total = 0;
  std::atomic<int64_t> sum{0};
  for (int call = 0; call < 20000; ++call) {
    pool.parallel_for(8, 1, [&](int64_t begin, int64_t end) { sum.fetch_add(end - begin); });
    total += 8;
  }
  EXPECT_EQ(sum.load(), total);
}

TEST(ThreadPool, ConcurrentCallersEachGetTheirWholeRange) {
  ThreadPool pool(2);
  std::vector<std::thread> callers;
  std::atomic<int64_t> sum{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int call = 0; call < 500; ++call) {
        pool.parallel_for(100, 7, [&](int64_t begin, int64_t end) { sum.fetch_add(end - begin); });
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(sum.load(), 4 * 500 * 100);
}

TEST(ThreadPool, GlobalPoolHasAtLeastOneThread) {
  EXPECT_GE(num_threads(), 1);
  std::atomic<int64_t> sum{0};
  parallel_for(1000, 10, [&](int64_t begin, int64_t end) { sum.fetch_add(end - begin); });
  EXPECT_EQ(sum.load(), 1000);
}

}  // namespace
}  // namespace tessera::cpu
