#include "backend/cpu/streaming_for.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>

namespace tessera::cpu {

namespace {

// Most segments (threads) one call splits into.
constexpr int kMaxSegments = 64;
// Pieces an owner takes its segment in: the granularity of what another thread can take over.
constexpr int64_t kPiecesPerSegment = 16;

// What is left of a segment, in grains: [begin, end) packed into one word so that the owner
// (from the front) and a helper (from the back) claim with one compare-exchange.
struct alignas(64) Segment {
  std::atomic<uint64_t> range{0};
};

constexpr uint64_t pack(uint32_t begin, uint32_t end) { return uint64_t{end} << 32 | begin; }
constexpr uint32_t begin_of(uint64_t r) { return static_cast<uint32_t>(r); }
constexpr uint32_t end_of(uint64_t r) { return static_cast<uint32_t>(r >> 32); }

// The owner's next piece of at most `piece` grains from the front; false when none is left.
bool take_front(Segment& s, uint32_t piece, uint32_t& begin, uint32_t& end) {
  uint64_t r = s.range.load(std::memory_order_acquire);
  while (begin_of(r) < end_of(r)) {
    const uint32_t to = std::min(end_of(r), begin_of(r) + piece);
    if (s.range.compare_exchange_weak(r, pack(to, end_of(r)), std::memory_order_acq_rel)) {
      begin = begin_of(r);
      end = to;
      return true;
    }
  }
  return false;
}

// The back half of what is left of s; false when less than two grains are left.
bool take_back(Segment& s, uint32_t& begin, uint32_t& end) {
  uint64_t r = s.range.load(std::memory_order_acquire);
  while (end_of(r) - begin_of(r) >= 2) {
    const uint32_t mid = begin_of(r) + (end_of(r) - begin_of(r) + 1) / 2;
    if (s.range.compare_exchange_weak(r, pack(begin_of(r), mid), std::memory_order_acq_rel)) {
      begin = mid;
      end = end_of(r);
      return true;
    }
  }
  return false;
}

}  // namespace

void streaming_for(int64_t n, int64_t grain, const RangeFn& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t grains = (n + grain - 1) / grain;
  const int64_t segments = std::min<int64_t>({num_threads(), grains, kMaxSegments});
  if (segments <= 1 || grains > std::numeric_limits<uint32_t>::max()) return parallel_for(n, grain, fn);
  std::array<Segment, kMaxSegments> left;
  for (int64_t s = 0; s < segments; ++s) {
    left[s].range.store(pack(static_cast<uint32_t>(s * grains / segments),
                             static_cast<uint32_t>((s + 1) * grains / segments)),
                        std::memory_order_relaxed);
  }
  const auto piece = static_cast<uint32_t>(std::max<int64_t>(1, grains / segments / kPiecesPerSegment));
  auto run = [&](uint32_t begin, uint32_t end) { fn(begin * grain, std::min(n, end * grain)); };
  parallel_for(segments, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      uint32_t begin, end;
      while (take_front(left[s], piece, begin, end)) run(begin, end);
      for (bool helped = true; helped;) {
        helped = false;
        for (int64_t o = 1; o < segments; ++o) {
          if (take_back(left[(s + o) % segments], begin, end)) {
            run(begin, end);
            helped = true;
          }
        }
      }
    }
  });
}

}  // namespace tessera::cpu
