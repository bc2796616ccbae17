// Which x86 vector extensions the running CPU offers, for the kernels that dispatch at run time.
//
// The library is built for the baseline x86-64 ISA; kernels that use AVX-512 mark their
// functions with TESSERA_TARGET_AVX512 / TESSERA_TARGET_AVX512_BF16 and are only called when
// the matching query below is true.
#pragma once

// GCC 12's AVX-512 intrinsics initialize their "undefined" operands from themselves, which
// -Wuninitialized reports at every use (GCC bug 105593); the headers are correct.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#define TESSERA_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define TESSERA_TARGET_AVX512_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c")))

namespace tessera::cpu {

// AVX-512 F/BW/VL/DQ with FMA and F16C, enabled by the OS.
bool cpu_has_avx512();
// The above plus AVX512_BF16 (vdpbf16ps).
bool cpu_has_avx512_bf16();

}  // namespace tessera::cpu
