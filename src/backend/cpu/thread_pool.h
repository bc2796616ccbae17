// A persistent pool of worker threads for the CPU kernels.
//
// Decoding a token calls parallel_for hundreds of times, so a call must cost microseconds:
// each worker spins briefly on its own wake-up counter before sleeping on a futex, and the
// calling thread works on the job too instead of waiting idle.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera::cpu {

using RangeFn = std::function<void(int64_t begin, int64_t end)>;

class ThreadPool {
 public:
  // num_threads counts the calling thread: a pool of 1 runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn on disjoint ranges covering [0, n). Every range starts at a multiple of
  // `grain` and all but the last are at least `grain` long; at most num_threads() ranges
  // run at once. Runs inline when one range suffices, when called from inside the pool, or
  // while another thread is using the pool. The first exception thrown by fn is rethrown
  // here once every range has finished.
  void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

 private:
  // One per worker, on its own cache line: the caller bumps `ticket` to hand it a job.
  struct alignas(64) Slot {
    std::atomic<uint32_t> ticket{0};
    std::atomic<bool> sleeping{false};
  };

  void worker_loop(Slot& slot);
  void run_chunks();
  void join_job();

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // one job at a time; a second caller runs inline

  // The current job. Its fields are written while the job is closed, and stay unchanged
  // while any worker has joined it.
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  int64_t num_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  // kClosed plus the number of workers inside the job. A worker that wakes up late finds the
  // job closed and stays out, so the caller never waits for a thread the OS has not run yet.
  static constexpr uint32_t kClosed = 1u << 31;
  alignas(64) std::atomic<uint32_t> state_{kClosed};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};

  std::mutex error_mutex_;
  std::exception_ptr error_;
};

// The process-wide pool, created on first use with TESSERA_NUM_THREADS threads
// (default: the number of cores available to the process).
ThreadPool& thread_pool();
int num_threads();

// parallel_for on the process-wide pool.
void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

}  // namespace tessera::cpu
