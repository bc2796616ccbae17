// The decode kernels for 2-, 3-, 5- and 6-bit weights compiled for AVX-512 VBMI, which unpacks
// their fields in three instructions instead of eight (quantized_int8_tiles.inc).

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which its -W(maybe-)uninitialized
// reports once they are inlined into target-attributed code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "backend/cpu/quantized.h"
#include "backend/cpu/quantized_int8_layout.h"
#include "backend/cpu/thread_pool.h"

namespace tessera::cpu::qint8::vbmi {

#define TESSERA_QINT8_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx512vbmi")))
#define TESSERA_QINT8_VBMI
#include "backend/cpu/quantized_int8_tiles.inc"
#undef TESSERA_QINT8_VBMI
#undef TESSERA_QINT8_TARGET

void gemv_fields(const detail::PreparedX& px, int64_t M, const QuantizedMatrix& w, float* y) {
  switch (w.bits) {
    case 2: return gemv_with<Form::int8, 2>(px, M, w, y);
    case 3: return gemv_with<Form::int8, 3>(px, M, w, y);
    case 5: return gemv_with<Form::int8, 5>(px, M, w, y);
    case 6: return gemv_with<Form::int8, 6>(px, M, w, y);
    default: break;
  }
}

}  // namespace tessera::cpu::qint8::vbmi
