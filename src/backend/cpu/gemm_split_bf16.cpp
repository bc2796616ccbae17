#include "backend/cpu/gemm_split_bf16.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its -Wmaybe-uninitialized
// reports once they are inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/simd_features.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu {

namespace {

// Round to nearest even into bfloat16 bits, keeping NaNs quiet.
TESSERA_TARGET_AVX512 __m256i to_bf16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

TESSERA_TARGET_AVX512 void split_row(const float* src, int64_t n, uint16_t* hi, uint16_t* lo) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(k, src + i);
    const __m256i h = to_bf16(v);
    const __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    // An infinite or NaN hi leaves no remainder (inf - inf would be NaN).
    const __mmask16 finite = static_cast<__mmask16>(~_mm512_fpclass_ps_mask(back, 0x99));
    const __m256i l = to_bf16(_mm512_maskz_sub_ps(finite, v, back));
    _mm256_mask_storeu_epi16(hi + i, k, h);
    _mm256_mask_storeu_epi16(lo + i, k, l);
  }
}

}  // namespace

void split_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, SplitBf16& out) {
  out.hi.resize(static_cast<size_t>(rows * cols));
  out.lo.resize(static_cast<size_t>(rows * cols));
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) split_row(src + r * ld, cols, out.hi.data() + r * cols, out.lo.data() + r * cols);
  });
}

void gemm_split_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a_hi,
                     const uint16_t* a_lo, int64_t lda, const uint16_t* b_hi, const uint16_t* b_lo, int64_t ldb,
                     float beta, float* C, int64_t ldc) {
  gemm_bf16(trans_a, trans_b, M, N, K, alpha, a_hi, lda, b_hi, ldb, beta, C, ldc);
  gemm_bf16(trans_a, trans_b, M, N, K, alpha, a_lo, lda, b_hi, ldb, 1.0f, C, ldc);
  gemm_bf16(trans_a, trans_b, M, N, K, alpha, a_hi, lda, b_lo, ldb, 1.0f, C, ldc);
}

}  // namespace tessera::cpu
