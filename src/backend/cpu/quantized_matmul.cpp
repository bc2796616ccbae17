// Matrix products with an affine-quantized operand.
//
// Few rows of x (decoding): the product should be bound by reading the packed weights, so every
// packed block is unpacked once in registers and multiplied into all rows of x, multi-threaded
// over output rows: on int8 dot products with x rounded to int8 where the CPU has them
// (quantized_int8.h), else in float32 (qsimd::gemv_rows), except where the many-row path below
// is faster even for one row (3, 5 and 6 bits with bfloat16 activations).
//
// Many rows of x (prefill, training): the work is bound by arithmetic, so blocks of W are
// dequantized in natural order (quantized_dequant.h) and multiplied by a GEMM. With bfloat16
// activations each thread takes a tile of output columns, dequantizes one GEMM-sized block of
// W at a time into bfloat16 in its own L2-resident buffer and runs the bf16 GEMM on it for all
// rows of x, so dequantization is spread over the threads and paid once per weight. With
// float16 or float32 activations panels of W are dequantized into float32 by all threads and
// multiplied as split bf16 products (float16: gemm_split_bf16.h) or by OpenBLAS sgemm
// (float32), keeping the activations' accuracy.
#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/gemm_panels.h"
#include "backend/cpu/quantized.h"
#include "backend/cpu/quantized_dequant.h"
#include "backend/cpu/quantized_int8.h"
#include "backend/cpu/quantized_simd.h"
#include "backend/cpu/simd_convert.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// Rows of W per gemv work item: their packed bytes stay in L1/L2 while every 4-row slice of x
// passes over them.
constexpr int64_t kGemvRowBlock = 16;
// A bf16 block of W multiplied at once: at most kTileN output columns by kTileK of the
// reduction, the block gemm_bf16 packs and keeps in L2 itself (1 MiB).
constexpr int64_t kTileN = 512;
constexpr int64_t kTileK = 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void group_sums(const float* x, int64_t M, int64_t K, int group_size, float* out) {
  const int64_t G = K / group_size;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < G; ++g) {
      float s = 0.0f;
      for (int64_t i = g * group_size; i < (g + 1) * group_size; ++i) s += x[m * K + i];
      out[m * G + g] = s;
    }
}

void gemv(const float* x, int64_t M, const QuantizedMatrix& w, float* y) {
  const int64_t K = w.cols;
  const int64_t N = w.rows;
  std::vector<float> xp(M * K);
  std::vector<float> xs(M * w.groups_per_row());
  for (int64_t m = 0; m < M; ++m) qsimd::permute(x + m * K, K, w.bits, xp.data() + m * K);
  group_sums(x, M, K, w.group_size, xs.data());
  parallel_for(N, kGemvRowBlock, [&](int64_t n0, int64_t n1) {
    for (int64_t nb = n0; nb < n1; nb += kGemvRowBlock)
      qsimd::gemv_rows(xp.data(), xs.data(), M, w, nb, std::min(n1, nb + kGemvRowBlock), y, N);
  });
}

// Calls task(t) for every t in [0, n) on the thread pool, handing tasks out one at a time so
// that a thread slowed down by other work on its core takes fewer.
void for_each_task(int64_t n, const std::function<void(int64_t)>& task) {
  std::atomic<int64_t> next{0};
  parallel_for(num_threads(), 1, [&](int64_t, int64_t) {
    for (int64_t t = next.fetch_add(1); t < n; t = next.fetch_add(1)) task(t);
  });
}

// Below this many rows of x the float32 register kernel beats dequantizing W and a GEMM
// (bench/quantized_prefill_bench). Its 3-, 5- and 6-bit unpacking (a gather per vector) is slow
// enough that the bf16 GEMM path wins even for a single row.
int64_t gemv_rows_below(const QuantizedMatrix& w, bool bf16_gemm) {
  const bool byte_fields = w.bits == 2 || w.bits == 4 || w.bits == 8;
  if (bf16_gemm) return byte_fields ? 2 : 0;
  return byte_fields ? 32 : 12;
}

// Output columns per task: whole multiples of 64 (the GEMM's panel width), at most kTileN,
// and at least two tasks per thread where N allows.
int64_t tile_columns(int64_t N) {
  return std::clamp<int64_t>(ceil_div(ceil_div(N, 2 * num_threads()), 64) * 64, 64, kTileN);
}

// x as bfloat16 (exact: it holds bfloat16 values), in memory left uninitialized until written.
std::unique_ptr<uint16_t[]> to_bf16(const float* x, int64_t n) {
  std::unique_ptr<uint16_t[]> out(new uint16_t[static_cast<size_t>(n)]);
  f32_to_bf16(x, out.get(), n);
  return out;
}

thread_local std::vector<uint16_t> t_block;

// y [M, N] (+)= xb [M, K] · B where B is the bf16 block of W that dequantize(n0, n1, k0, k1,
// block) writes for output columns [n0, n1) and reduction [k0, k1), with leading dimension
// ldb(n1 - n0, k1 - k0) and stored transposed (as W's rows) when trans_b.
template <class Dequantize>
void bf16_product(const uint16_t* xb, int64_t M, int64_t N, int64_t K, bool trans_b, float* y,
                  const Dequantize& dequantize) {
  const int64_t tn = tile_columns(N);
  for_each_task(ceil_div(N, tn), [&](int64_t t) {
    const int64_t n0 = t * tn;
    const int64_t n1 = std::min(N, n0 + tn);
    t_block.resize(static_cast<size_t>(tn * std::min(K, kTileK)));
    for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
      const int64_t k1 = std::min(K, k0 + kTileK);
      const int64_t ldb = trans_b ? k1 - k0 : n1 - n0;
      dequantize(n0, n1, k0, k1, t_block.data(), ldb);
      gemm_bf16(false, trans_b, M, n1 - n0, k1 - k0, 1.0f, xb + k0, K, t_block.data(), ldb, k0 == 0 ? 0.0f : 1.0f,
                y + n0, N);
    }
  });
}

// Fills panels of W's stored rows dequantized into float32, on all threads.
PanelFill dequantize_panels(const QuantizedMatrix& w) {
  return [&w](int64_t r0, int64_t r1, float* panel) {
    parallel_for(r1 - r0, 4, [&](int64_t a, int64_t b) {
      dequantize_block_f32(w, r0 + a, r0 + b, 0, w.cols, panel + a * w.cols, w.cols);
    });
  };
}

// Float16 activations keep their precision on split bf16 products; float32 ones need sgemm.
PanelArithmetic panel_arithmetic(InputType inputs) {
  return inputs == InputType::float16 && cpu_has_avx512_bf16() ? PanelArithmetic::split_bf16 : PanelArithmetic::sgemm;
}

}  // namespace

void quantized_matmul_t(const float* x, int64_t M, const QuantizedMatrix& w, float* y, InputType inputs) {
  if (M <= 0 || w.rows == 0) return;
  const bool bf16_gemm = inputs == InputType::bfloat16 && cpu_has_avx512_bf16();
  if (qint8::supports(w)) {
    if (M <= qint8::max_rows(w)) return qint8::gemv(x, M, w, y);
  } else if (M < gemv_rows_below(w, bf16_gemm)) {
    return gemv(x, M, w, y);
  }
  const int64_t K = w.cols;
  const int64_t N = w.rows;
  if (K == 0) return std::fill(y, y + M * N, 0.0f);
  if (bf16_gemm) {
    const std::unique_ptr<uint16_t[]> xb = to_bf16(x, M * K);
    return bf16_product(xb.get(), M, N, K, true, y,
                        [&](int64_t n0, int64_t n1, int64_t k0, int64_t k1, uint16_t* block, int64_t ldb) {
                          dequantize_block_bf16(w, n0, n1, k0, k1, block, ldb);
                        });
  }
  panel_product(panel_arithmetic(inputs), false, true, M, N, K, 1.0f, x, dequantize_panels(w), 0.0f, y, N);
}

void quantized_matmul_n(const float* x, int64_t M, const QuantizedMatrix& w, float* y, InputType inputs) {
  const int64_t K = w.rows;
  const int64_t N = w.cols;
  if (M <= 0 || N == 0) return;
  if (K == 0) return std::fill(y, y + M * N, 0.0f);
  if (inputs == InputType::bfloat16 && cpu_has_avx512_bf16()) {
    const std::unique_ptr<uint16_t[]> xb = to_bf16(x, M * K);
    return bf16_product(xb.get(), M, N, K, false, y,
                        [&](int64_t n0, int64_t n1, int64_t k0, int64_t k1, uint16_t* block, int64_t ldb) {
                          dequantize_block_bf16(w, k0, k1, n0, n1, block, ldb);
                        });
  }
  panel_product(panel_arithmetic(inputs), false, false, M, N, K, 1.0f, x, dequantize_panels(w), 0.0f, y, N);
}

}  // namespace tessera::cpu
