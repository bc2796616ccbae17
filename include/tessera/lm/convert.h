// `tessera convert`: a Hugging Face model folder -> an mlx-lm style folder, optionally
// quantized (or dequantized), in the layout mlx-lm's convert writes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "tessera/dtype.h"

namespace tessera::lm {

struct ConvertOptions {
  std::string hf_path;
  std::string mlx_path;  // must not exist yet
  bool quantize = false;
  int q_bits = 4;
  int q_group_size = 64;
  // Float weights are cast to this dtype; unset: config.json's torch_dtype, else kept as stored.
  std::optional<Dtype> dtype;
  bool dequantize = false;
  std::string quant_predicate;  // "" or a mixed recipe (mixed_2_6, mixed_3_4, mixed_3_6, mixed_4_6)
  uint64_t max_shard_bytes = 5'000'000'000;
  // Called after each shard is written with (bytes written, total bytes).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Writes mlx_path atomically: everything goes to `mlx_path + ".tmp"`, renamed when complete,
// so a failure leaves no partial folder. Throws std::runtime_error / std::invalid_argument.
void convert(const ConvertOptions& options);

}  // namespace tessera::lm
