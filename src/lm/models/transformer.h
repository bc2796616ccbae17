// The decoder-only transformer that the architectures share: attention (GQA, optional q/k/v
// bias, q/k norm, sliding window, logit softcap, fused qkv), the gated MLP, the decoder layer
// (pre-norm, or Gemma 2's four norms) and the model (embeddings, layers, final norm, head).
// An architecture file fills TransformerArgs from config.json and may supply its own
// feed-forward block (MoE).
#pragma once

#include "lm/models/config.h"
#include "lm/models/rope_config.h"
#include "tessera/lm/model.h"
#include "tessera/nn/layers.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::lm {

struct TransformerArgs {
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int intermediate_size = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  float rms_norm_eps = 1e-6f;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;         // RMSNorm over head_dim on q and k, before RoPE
  bool gemma_norms = false;     // every RMSNorm scales by (1 + weight)
  bool scale_embeddings = false;  // h *= sqrt(hidden_size), rounded to the model dtype
  bool sandwich_norms = false;  // Gemma 2/3: norms after attention and around the MLP
  bool fused_qkv = false;       // Phi-3: one qkv_proj, rows q | k | v
  bool fused_gate_up = false;   // Phi-3: one gate_up_proj, rows gate | up
  std::string hidden_act = "silu";
  float attention_scale = 0;    // multiplies q k^T; 0 = head_dim^-0.5
  std::optional<float> attn_logit_softcapping;
  std::optional<float> final_logit_softcapping;
  // Per layer: the sliding window (keys i - W < j <= i), or none for global attention.
  std::vector<std::optional<int>> layer_windows;
  // Per layer: which entry of `ropes` it uses.
  std::vector<std::string> layer_rope;
  std::map<std::string, RopeConfig> ropes;
};

// Reads the keys every architecture shares (sizes, eps, tie_word_embeddings) and, with
// `single_rope`, the RoPE settings under key "" (one RoPE for all layers).
TransformerArgs parse_transformer_args(const ConfigReader& config, bool tie_default, int head_dim_default = 0,
                                       bool single_rope = true);

// layer_types from config.json, or for configs without it, every layer `fallback`.
// Checks the length and the names.
std::vector<std::string> parse_layer_types(const ConfigReader& config, int num_layers,
                                           const std::vector<std::string>& fallback);

// Gives the layers marked "sliding_attention" the window `window`.
void set_sliding_windows(TransformerArgs& args, const std::vector<std::string>& layer_types, int window);

// The feed-forward activation of the Gemma family: `hidden_activation`, else gelu_pytorch_tanh.
std::string gemma_activation(const ConfigReader& config);

class Attention : public nn::Module {
 public:
  // rope_attention_factor: LongRoPE's multiplier of cos and sin (1 for other RoPE types).
  Attention(const TransformerArgs& args, std::shared_ptr<nn::RoPE> rope, float rope_attention_factor);
  std::string type_name() const override { return "Attention"; }
  array operator()(const array& x, const AttentionMask& mask, KVCache* cache);

 private:
  int num_heads_;
  int num_kv_heads_;
  int head_dim_;
  float scale_;
  std::optional<float> softcap_;
  bool fused_qkv_;
  std::shared_ptr<nn::RoPE> rope_;
  nn::Child<nn::UnaryModule> q_proj_, k_proj_, v_proj_, qkv_proj_, o_proj_;
  std::optional<nn::Child<nn::UnaryModule>> q_norm_, k_norm_;
};

// down(act(gate(x)) * up(x))
class MLP : public nn::UnaryModule {
 public:
  MLP(int hidden_size, int intermediate_size, const std::string& activation, bool bias = false,
      bool fused_gate_up = false);
  std::string type_name() const override { return "MLP"; }
  array operator()(const array& x) override;

 private:
  std::function<array(const array&, const array&)> gated_;
  bool fused_;
  nn::Child<nn::UnaryModule> gate_proj_, up_proj_, gate_up_proj_, down_proj_;
};

class DecoderLayer : public nn::Module {
 public:
  // `ffn_name` is the checkpoint name of the feed-forward block ("mlp", "block_sparse_moe").
  DecoderLayer(const TransformerArgs& args, std::shared_ptr<nn::RoPE> rope, float rope_attention_factor,
               const std::string& ffn_name, std::shared_ptr<nn::UnaryModule> ffn);
  std::string type_name() const override { return "DecoderLayer"; }
  array operator()(const array& x, const AttentionMask& mask, KVCache* cache);

 private:
  bool sandwich_;
  nn::Child<Attention> self_attn_;
  nn::Child<nn::UnaryModule> ffn_, input_layernorm_, post_attention_layernorm_;
  std::optional<nn::Child<nn::UnaryModule>> pre_feedforward_layernorm_, post_feedforward_layernorm_;
};

// Builds the feed-forward block of layer i and names it in the checkpoint.
using FeedForwardFactory = std::function<std::pair<std::string, std::shared_ptr<nn::UnaryModule>>(int layer)>;

// `model.` in the checkpoint names: embeddings, layers and the final norm.
class TransformerBody : public nn::Module {
 public:
  TransformerBody(const TransformerArgs& args, const FeedForwardFactory& ffn);
  std::string type_name() const override { return "TransformerBody"; }
  // Hidden states after the final norm, [B, T, hidden_size]. With `checkpoint_layers` (and no
  // cache), every layer runs under tessera::checkpoint.
  array operator()(const array& tokens, Cache* cache, bool checkpoint_layers = false);
  nn::Embedding& embed_tokens() const { return *embed_tokens_; }

 private:
  array checkpointed_layer(int i, const array& x, const AttentionMask& mask);

  TransformerArgs args_;
  nn::Child<nn::Embedding> embed_tokens_;
  nn::Child<nn::ModuleList<DecoderLayer>> layers_;
  nn::Child<nn::UnaryModule> norm_;
};

class TransformerLM : public Model {
 public:
  // Without `ffn`, every layer gets the gated MLP named "mlp".
  TransformerLM(std::string model_type, TransformerArgs args, FeedForwardFactory ffn = {});
  std::string type_name() const override { return "TransformerLM"; }
  array operator()(const array& tokens, Cache* cache = nullptr) override;
  int num_layers() const override { return args_.num_hidden_layers; }
  int vocab_size() const override { return args_.vocab_size; }
  nn::ParameterMap sanitize(nn::ParameterMap weights) const override;
  std::vector<PackedMatrix> decoding_matrices() override;
  const TransformerArgs& args() const { return args_; }

 private:
  TransformerArgs args_;
  nn::Child<TransformerBody> model_;
  std::optional<nn::Child<nn::UnaryModule>> lm_head_;
};

}  // namespace tessera::lm
