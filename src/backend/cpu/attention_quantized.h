// Attention over a KV cache held as affine-quantized codes (lm/quantized_kv_cache.h), read in
// place: no dequantized copy of the cache is made.
#pragma once

#include <cstdint>
#include <optional>

namespace tessera::cpu {

// Keys or values of every (batch, head) pair, head after head: for head i rows [i * cap,
// i * cap + Tk) of codes (D * bits / 8 bytes each; at 4 bits element 2k in the low nibble of
// byte k) and of scales and biases (D / group_size each).
struct QuantizedRows {
  const uint8_t* codes = nullptr;
  const float* scales = nullptr;
  const float* biases = nullptr;
  int64_t cap = 0;
};

struct QuantizedAttentionParams {
  int64_t B = 0, Hq = 0, Hkv = 0, Tq = 0, Tk = 0, D = 0;
  int bits = 8, group_size = 64;
  float scale = 1.0f;
  bool causal = false;            // query i sees keys j <= i + Tk - Tq
  std::optional<float> softcap;   // s -> cap * tanh(s / cap), before the mask
  const bool* mask = nullptr;     // [Tq, Tk], shared by every head: false hides a key
  bool q_bfloat16 = false;        // q holds bfloat16 values (it came from a bfloat16 model)
};

// Quantizes `rows` rows of D floats into the format above: per group of group_size elements
// scale = (max - min) / (2^bits - 1), bias = min and q = round((x - bias) / scale).
void quantize_rows(const float* x, int64_t rows, int64_t D, int bits, int group_size, uint8_t* codes, float* scales,
                   float* biases);

// Rows [0, n) of head `index` of `rows` as float32 [n, D].
void dequantize_head(const QuantizedRows& rows, int64_t index, int64_t n, int64_t D, int bits, int group_size,
                     float* out);

// out [B, Hq, Tq, D] = softmax(q k^T * scale + mask) v for q [B, Hq, Tq, D], all float32 and
// contiguous; query head h reads key/value head h / (Hq / Hkv). A query that sees no key gets
// zeros.
void quantized_attention(const QuantizedAttentionParams& p, const float* q, const QuantizedRows& k,
                         const QuantizedRows& v, float* out);

// quantized_attention for many query rows of bfloat16 q (attention_quantized_bf16.cpp): through a
// bfloat16 copy of the cache's heads and attention_bf16. Returns false, computing nothing, where
// the rows are too few, q is not bfloat16, the head size is not 64, 128 or 256, or the CPU lacks
// AVX-512 BF16.
bool quantized_attention_bf16(const QuantizedAttentionParams& p, const float* q, const QuantizedRows& k,
                              const QuantizedRows& v, float* out);

}  // namespace tessera::cpu
