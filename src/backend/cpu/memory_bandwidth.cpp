#include "backend/cpu/memory_bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// Sums [p, p + n) as two sequential halves read side by side (two streams keep more cache-line
// requests in flight than one), four 64-byte loads per stream and step.
TESSERA_TARGET_AVX512 uint64_t read_sum_avx512(const char* p, size_t n) {
  const size_t half = n / 2 / 256 * 256;
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < half; i += 256) {
    for (const char* q : {p + i, p + half + i}) {
      a0 = _mm512_add_epi64(a0, _mm512_load_si512(q));
      a1 = _mm512_add_epi64(a1, _mm512_load_si512(q + 64));
      a2 = _mm512_add_epi64(a2, _mm512_load_si512(q + 128));
      a3 = _mm512_add_epi64(a3, _mm512_load_si512(q + 192));
    }
  }
  const __m512i sum = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(sum));
}

uint64_t read_sum(const char* p, size_t n) {
  if (cpu_has_avx512()) return read_sum_avx512(p, n);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    uint64_t v[4];
    std::memcpy(v, p + i, sizeof v);
    s0 += v[0];
    s1 += v[1];
    s2 += v[2];
    s3 += v[3];
  }
  return s0 + s1 + s2 + s3;
}

// Seconds for all threads to read their equal, 4 KiB-aligned parts of the buffer once.
double timed_pass(const char* data, size_t bytes, int threads) {
  const size_t part = bytes / threads / 4096 * 4096;
  const auto start = std::chrono::steady_clock::now();
  parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const uint64_t sum = read_sum(data + part * t, part);
      asm volatile("" : : "r"(sum));  // the reads must happen although the sum is unused
    }
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// Anonymous memory on huge pages where the kernel allows: page walks stay out of the figure.
ReadBandwidthProbe::ReadBandwidthProbe(size_t bytes) : bytes_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("memory bandwidth probe: cannot map " + std::to_string(bytes) + " bytes");
  madvise(p, bytes, MADV_HUGEPAGE);
  data_ = static_cast<char*>(p);
  std::memset(data_, 1, bytes);  // every page present before timing
}

ReadBandwidthProbe::~ReadBandwidthProbe() { munmap(data_, bytes_); }

double ReadBandwidthProbe::measure(int passes) const {
  const int threads = num_threads();
  const size_t part = bytes_ / threads / 4096 * 4096;
  double best = 0.0;
  for (int i = 0; i < std::max(1, passes); ++i) {
    best = std::max(best, static_cast<double>(part * threads) / timed_pass(data_, bytes_, threads));
  }
  return best;
}

double measure_read_bandwidth(size_t bytes, int passes) { return ReadBandwidthProbe(bytes).measure(passes); }

}  // namespace tessera::cpu
