#include "backend/cpu/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

namespace tessera::cpu {

namespace {

// How long an idle thread spins before sleeping. Long enough to bridge the gaps between the
// parallel kernels of one decode step, short enough not to steal a shared core for long.
constexpr auto kSpinTime = std::chrono::microseconds(200);

// True on the pool's workers, and on a caller while it runs its share of a job: nested
// parallel_for calls from there run inline.
thread_local bool t_in_pool = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or until kSpinTime has passed; returns done().
template <class Done>
bool spin_until(Done done) {
  auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  while (true) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() > deadline) return done();
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int default_num_threads() {
  if (const char* env = std::getenv("TESSERA_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    long value = std::strtol(env, &end, 10);
    if (*end != '\0' || value < 1 || value > 4096) {
      throw std::runtime_error("TESSERA_NUM_THREADS must be a positive integer, got '" +
                               std::string(env) + "'");
    }
    return static_cast<int>(value);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  int num_workers = std::max(0, num_threads - 1);
  for (int i = 0; i < num_workers; ++i) slots_.push_back(std::make_unique<Slot>());
  for (int i = 0; i < num_workers; ++i) {
    workers_.emplace_back([this, i] { worker_loop(*slots_[i]); });
  }
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_seq_cst);
  for (auto& slot : slots_) {
    slot->ticket.fetch_add(1, std::memory_order_seq_cst);
    slot->ticket.notify_one();
  }
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::worker_loop(Slot& slot) {
  t_in_pool = true;
  uint32_t seen = 0;
  while (true) {
    auto handed_job = [&] { return slot.ticket.load(std::memory_order_acquire) != seen; };
    if (!spin_until(handed_job)) {
      // seq_cst pairs with the caller's bump-then-check of `sleeping`: either it sees us
      // asleep and wakes us, or our wait sees the new ticket.
      slot.sleeping.store(true, std::memory_order_seq_cst);
      slot.ticket.wait(seen, std::memory_order_seq_cst);
      slot.sleeping.store(false, std::memory_order_relaxed);
      continue;
    }
    seen = slot.ticket.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    join_job();
  }
}

void ThreadPool::join_job() {
  uint32_t before = state_.fetch_add(1, std::memory_order_seq_cst);
  if ((before & kClosed) == 0) run_chunks();
  uint32_t after = state_.fetch_sub(1, std::memory_order_seq_cst) - 1;
  if ((after & ~kClosed) == 0 && caller_sleeping_.load(std::memory_order_seq_cst)) state_.notify_one();
}

void ThreadPool::run_chunks() {
  while (true) {
    int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= num_chunks_) return;
    int64_t begin = c * chunk_;
    int64_t end = std::min(n_, begin + chunk_);
    try {
      (*fn_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = ceil_div(n, grain);
  if (max_chunks <= 1 || workers_.empty() || t_in_pool) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (!lock.owns_lock()) {
    fn(0, n);
    return;
  }

  int64_t num_chunks = std::min<int64_t>(max_chunks, num_threads());
  int64_t chunk = ceil_div(ceil_div(n, num_chunks), grain) * grain;
  num_chunks = ceil_div(n, chunk);

  fn_ = &fn;
  n_ = n;
  chunk_ = chunk;
  num_chunks_ = num_chunks;
  next_chunk_.store(0, std::memory_order_relaxed);
  error_ = nullptr;
  // Opening keeps the count: a late worker may be passing through the closed job.
  state_.fetch_and(~kClosed, std::memory_order_seq_cst);
  for (int64_t i = 0; i < num_chunks - 1; ++i) {
    Slot& slot = *slots_[i];
    slot.ticket.fetch_add(1, std::memory_order_seq_cst);
    if (slot.sleeping.load(std::memory_order_seq_cst)) slot.ticket.notify_one();
  }

  t_in_pool = true;
  run_chunks();
  t_in_pool = false;

  // Every chunk is claimed; wait only for the workers that joined to finish theirs.
  state_.fetch_or(kClosed, std::memory_order_seq_cst);
  auto finished = [&] { return (state_.load(std::memory_order_acquire) & ~kClosed) == 0; };
  if (!spin_until(finished)) {
    caller_sleeping_.store(true, std::memory_order_seq_cst);
    for (uint32_t s; ((s = state_.load(std::memory_order_seq_cst)) & ~kClosed) != 0;) {
      state_.wait(s, std::memory_order_seq_cst);
    }
    caller_sleeping_.store(false, std::memory_order_relaxed);
  }

  if (error_) {
    std::exception_ptr error = std::exchange(error_, nullptr);
    std::rethrow_exception(error);
  }
}

ThreadPool& thread_pool() {
  static ThreadPool pool(default_num_threads());
  return pool;
}

int num_threads() { return thread_pool().num_threads(); }

void parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  thread_pool().parallel_for(n, grain, fn);
}

}  // namespace tessera::cpu
