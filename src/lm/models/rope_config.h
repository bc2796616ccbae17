// RoPE settings from config.json in either layout, and the frequency tables they imply.
//
// transformers 5 writes `rope_parameters` ({"rope_type", "rope_theta", ...}, or for
// gemma3_text one such dict per layer type); older checkpoints write `rope_theta` and
// `rope_scaling` ({"type" | "rope_type", "factor", ...}) at the top level. Both normalize
// to one RopeConfig.
#pragma once

#include "lm/models/config.h"

#include <optional>
#include <string>
#include <vector>

namespace tessera::lm {

struct RopeConfig {
  std::string type = "default";  // default | linear | dynamic | llama3 | longrope
  double theta = 10000.0;
  double factor = 1.0;
  double partial_rotary_factor = 1.0;
  int max_position_embeddings = 0;  // 0: unknown
  std::optional<int> original_max_position_embeddings;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  // longrope
  std::vector<double> short_factor;
  std::vector<double> long_factor;
  // longrope: multiplies cos and sin (so q·k by its square); computed when absent
  std::optional<double> attention_factor;
};

// `layer_type` picks the per-layer-type entry ("sliding_attention" / "full_attention") where
// the config has one; legacy gemma3_text configs give the sliding layers' base in
// `rope_local_base_freq` and apply `rope_scaling` to the full-attention layers only.
RopeConfig parse_rope_config(const ConfigReader& config, const std::string& layer_type = "",
                             double default_theta = 10000.0);

// Number of rotated features of a head: head_dim * partial_rotary_factor.
int rope_dims(const RopeConfig& rope, int head_dim);

// inv_freq[i] = theta^(-2i/dims), i < dims/2, computed in float32 as transformers does.
std::vector<float> default_inv_freq(double theta, int dims);
// llama3: low-frequency bands divided by factor, high bands kept, a smooth ramp in between.
std::vector<float> llama3_inv_freq(const RopeConfig& rope, int dims);
// longrope: inv_freq[i] = 1 / (factors[i] * theta^(2i/dims)).
std::vector<float> longrope_inv_freq(const RopeConfig& rope, int dims, const std::vector<double>& factors);

// The cos/sin multiplier of longrope (1 for the other types).
double rope_attention_factor(const RopeConfig& rope);
// dynamic NTK: the base used when the sequence has `seq_len` positions.
double dynamic_ntk_base(const RopeConfig& rope, int dims, int seq_len);

}  // namespace tessera::lm
