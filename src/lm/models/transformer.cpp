#include "lm/models/transformer.h"

#include "lm/models/rope.h"
#include "tessera/fast.h"
#include "tessera/lm/quantized_kv_cache.h"
#include "tessera/nn/activations.h"
#include "tessera/nn/quantized.h"
#include "tessera/ops.h"
#include "tessera/random.h"
#include "tessera/transforms.h"

#include <cmath>
#include <stdexcept>

namespace tessera::lm {
namespace {

std::shared_ptr<nn::UnaryModule> make_norm(const TransformerArgs& args, int dims) {
  return std::make_shared<nn::RMSNorm>(dims, args.rms_norm_eps, args.gemma_norms);
}

std::shared_ptr<nn::UnaryModule> make_linear(int in, int out, bool bias) {
  return std::make_shared<nn::Linear>(in, out, bias);
}

// x [B, T, H * D] -> [B, H, T, D]
array split_heads(const array& x, int heads, int head_dim) {
  return transpose(reshape(x, {x.shape(0), x.shape(1), heads, head_dim}), {0, 2, 1, 3});
}

array softcap(const array& x, float cap) { return multiply(tanh(divide(x, array(cap))), array(cap)); }

}  // namespace

TransformerArgs parse_transformer_args(const ConfigReader& config, bool tie_default, int head_dim_default,
                                       bool single_rope) {
  TransformerArgs args;
  args.hidden_size = config.get_int("hidden_size");
  args.num_hidden_layers = config.get_int("num_hidden_layers");
  args.intermediate_size = config.get_int("intermediate_size");
  args.num_attention_heads = config.get_int("num_attention_heads");
  args.num_key_value_heads = config.get_int("num_key_value_heads", args.num_attention_heads);
  args.vocab_size = config.get_int("vocab_size");
  for (auto [key, value] : {std::pair{"hidden_size", args.hidden_size}, {"num_hidden_layers", args.num_hidden_layers},
                            {"intermediate_size", args.intermediate_size},
                            {"num_attention_heads", args.num_attention_heads},
                            {"num_key_value_heads", args.num_key_value_heads}, {"vocab_size", args.vocab_size}}) {
    if (value <= 0) {
      config.fail(std::string("'") + key + "' must be positive, got " + std::to_string(value));
    }
  }
  if (args.num_attention_heads % args.num_key_value_heads != 0) {
    config.fail("'num_attention_heads' (" + std::to_string(args.num_attention_heads) +
                ") must be a multiple of 'num_key_value_heads' (" + std::to_string(args.num_key_value_heads) + ")");
  }
  if (config.has("head_dim")) {
    args.head_dim = config.get_int("head_dim");
  } else if (head_dim_default > 0) {
    args.head_dim = head_dim_default;
  } else {
    if (args.hidden_size % args.num_attention_heads != 0) {
      config.fail("'hidden_size' must be a multiple of 'num_attention_heads' when 'head_dim' is not given");
    }
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  if (args.head_dim <= 0) {
    config.fail("'head_dim' must be positive");
  }
  args.rms_norm_eps = static_cast<float>(config.get_double("rms_norm_eps", 1e-6));
  args.tie_word_embeddings = config.get_bool("tie_word_embeddings", tie_default);
  args.hidden_act = config.get_string("hidden_act", "silu");
  if (single_rope) {
    args.ropes[""] = parse_rope_config(config);
  }
  args.layer_rope.assign(args.num_hidden_layers, "");
  args.layer_windows.assign(args.num_hidden_layers, std::nullopt);
  return args;
}

std::vector<std::string> parse_layer_types(const ConfigReader& config, int num_layers,
                                           const std::vector<std::string>& fallback) {
  std::vector<std::string> types = config.has("layer_types") ? config.get_string_list("layer_types") : fallback;
  if (static_cast<int>(types.size()) != num_layers) {
    config.fail("'layer_types' has " + std::to_string(types.size()) + " entries for " + std::to_string(num_layers) +
                " layers");
  }
  for (const auto& t : types) {
    if (t != "sliding_attention" && t != "full_attention") {
      config.fail("unsupported layer type '" + t + "' in 'layer_types' (supported: sliding_attention, full_attention)");
    }
  }
  return types;
}

void set_sliding_windows(TransformerArgs& args, const std::vector<std::string>& layer_types, int window) {
  for (size_t i = 0; i < layer_types.size(); ++i) {
    if (layer_types[i] == "sliding_attention") {
      args.layer_windows[i] = window;
    }
  }
}

std::string gemma_activation(const ConfigReader& config) {
  return config.get_string("hidden_activation", "gelu_pytorch_tanh");
}

// ---- Attention ----

Attention::Attention(const TransformerArgs& args, std::shared_ptr<nn::RoPE> rope, float rope_attention_factor)
    : num_heads_(args.num_attention_heads),
      num_kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      softcap_(args.attn_logit_softcapping),
      fused_qkv_(args.fused_qkv),
      rope_(std::move(rope)) {
  const int d = args.hidden_size;
  const int q_out = num_heads_ * head_dim_;
  const int kv_out = num_kv_heads_ * head_dim_;
  if (fused_qkv_) {
    qkv_proj_ = register_module("qkv_proj", make_linear(d, q_out + 2 * kv_out, args.qkv_bias));
  } else {
    q_proj_ = register_module("q_proj", make_linear(d, q_out, args.qkv_bias));
    k_proj_ = register_module("k_proj", make_linear(d, kv_out, args.qkv_bias));
    v_proj_ = register_module("v_proj", make_linear(d, kv_out, args.qkv_bias));
  }
  o_proj_ = register_module("o_proj", make_linear(q_out, d, args.o_proj_bias));
  if (args.qk_norm) {
    q_norm_ = register_module("q_norm", make_norm(args, head_dim_));
    k_norm_ = register_module("k_norm", make_norm(args, head_dim_));
  }
  const float base_scale = args.attention_scale > 0 ? args.attention_scale : 1.0f / std::sqrt(static_cast<float>(head_dim_));
  // LongRoPE multiplies cos and sin by its attention factor, i.e. q·k by its square.
  scale_ = base_scale * rope_attention_factor * rope_attention_factor;
}

array Attention::operator()(const array& x, const AttentionMask& mask, KVCache* cache) {
  array q = x, k = x, v = x;
  if (fused_qkv_) {
    const int64_t q_out = int64_t{num_heads_} * head_dim_;
    const int64_t kv_out = int64_t{num_kv_heads_} * head_dim_;
    auto parts = split((*qkv_proj_)(x), Shape{q_out, q_out + kv_out}, -1);
    q = parts[0];
    k = parts[1];
    v = parts[2];
  } else {
    const auto qkv = nn::apply_side_by_side({&*q_proj_, &*k_proj_, &*v_proj_}, x);
    q = qkv[0];
    k = qkv[1];
    v = qkv[2];
  }
  if (q_norm_) {
    // The norms act per head: normalize [B, T, H, D] before moving the heads forward.
    q = transpose((**q_norm_)(reshape(q, {x.shape(0), x.shape(1), num_heads_, head_dim_})), {0, 2, 1, 3});
    k = transpose((**k_norm_)(reshape(k, {x.shape(0), x.shape(1), num_kv_heads_, head_dim_})), {0, 2, 1, 3});
  } else {
    q = split_heads(q, num_heads_, head_dim_);
    k = split_heads(k, num_kv_heads_, head_dim_);
  }
  v = split_heads(v, num_kv_heads_, head_dim_);

  const int offset = cache ? cache->offset() : 0;
  const std::optional<array> row_offsets = cache ? cache->row_offsets() : std::nullopt;
  q = (*rope_)(q, offset, row_offsets);
  k = (*rope_)(k, offset, row_offsets);
  array o = q;
  if (auto* quantized = dynamic_cast<QuantizedKVCache*>(cache)) {
    // Attends over the quantized keys/values without dequantizing the cache.
    o = quantized->attention(q, k, v, scale_, mask, softcap_);
  } else {
    if (cache) std::tie(k, v) = cache->update_and_fetch(k, v);
    o = fast::scaled_dot_product_attention(q, k, v, scale_, mask.mode, mask.mask, softcap_);
  }
  o = reshape(transpose(o, {0, 2, 1, 3}), {x.shape(0), x.shape(1), int64_t{num_heads_} * head_dim_});
  return (*o_proj_)(o);
}

// ---- MLP ----

MLP::MLP(int hidden_size, int intermediate_size, const std::string& activation, bool bias, bool fused_gate_up)
    : gated_(nn::gated_activation_from_name(activation)), fused_(fused_gate_up) {
  if (fused_) {
    gate_up_proj_ = register_module("gate_up_proj", make_linear(hidden_size, 2 * intermediate_size, bias));
  } else {
    gate_proj_ = register_module("gate_proj", make_linear(hidden_size, intermediate_size, bias));
    up_proj_ = register_module("up_proj", make_linear(hidden_size, intermediate_size, bias));
  }
  down_proj_ = register_module("down_proj", make_linear(intermediate_size, hidden_size, bias));
}

array MLP::operator()(const array& x) {
  if (fused_) {
    auto parts = split((*gate_up_proj_)(x), 2, -1);
    return (*down_proj_)(gated_(parts[0], parts[1]));
  }
  const auto gate_up = nn::apply_side_by_side({&*gate_proj_, &*up_proj_}, x);
  return (*down_proj_)(gated_(gate_up[0], gate_up[1]));
}

// ---- DecoderLayer ----

DecoderLayer::DecoderLayer(const TransformerArgs& args, std::shared_ptr<nn::RoPE> rope, float rope_attention_factor,
                           const std::string& ffn_name, std::shared_ptr<nn::UnaryModule> ffn)
    : sandwich_(args.sandwich_norms) {
  self_attn_ = register_module("self_attn", std::make_shared<Attention>(args, std::move(rope), rope_attention_factor));
  ffn_ = register_module(ffn_name, std::move(ffn));
  input_layernorm_ = register_module("input_layernorm", make_norm(args, args.hidden_size));
  post_attention_layernorm_ = register_module("post_attention_layernorm", make_norm(args, args.hidden_size));
  if (sandwich_) {
    pre_feedforward_layernorm_ = register_module("pre_feedforward_layernorm", make_norm(args, args.hidden_size));
    post_feedforward_layernorm_ = register_module("post_feedforward_layernorm", make_norm(args, args.hidden_size));
  }
}

array DecoderLayer::operator()(const array& x, const AttentionMask& mask, KVCache* cache) {
  array r = (*self_attn_)((*input_layernorm_)(x), mask, cache);
  if (sandwich_) {
    array h = add(x, (*post_attention_layernorm_)(r));
    array f = (**post_feedforward_layernorm_)((*ffn_)((**pre_feedforward_layernorm_)(h)));
    return add(h, f);
  }
  array h = add(x, r);
  return add(h, (*ffn_)((*post_attention_layernorm_)(h)));
}

// ---- TransformerBody ----

TransformerBody::TransformerBody(const TransformerArgs& args, const FeedForwardFactory& ffn) : args_(args) {
  embed_tokens_ = register_module("embed_tokens", std::make_shared<nn::Embedding>(args.vocab_size, args.hidden_size));
  std::map<std::string, std::shared_ptr<nn::RoPE>> ropes;
  for (const auto& [key, rope] : args.ropes) {
    ropes[key] = make_rope(rope, args.head_dim);
  }
  auto layers = std::make_shared<nn::ModuleList<DecoderLayer>>();
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    auto [name, block] = ffn(i);
    const std::string& key = args.layer_rope.at(i);
    const auto factor = static_cast<float>(rope_attention_factor(args.ropes.at(key)));
    layers->push_back(std::make_shared<DecoderLayer>(args, ropes.at(key), factor, name, std::move(block)));
  }
  layers_ = register_module("layers", layers);
  norm_ = register_module("norm", make_norm(args, args.hidden_size));
}

array TransformerBody::checkpointed_layer(int i, const array& x, const AttentionMask& mask) {
  auto layer = std::static_pointer_cast<DecoderLayer>(layers_->children().at(std::to_string(i)));
  // The trainable parameters are inputs of the checkpoint, so that their gradients flow through
  // it; each run of the body puts the values it is given into the layer and restores the old ones.
  std::vector<std::string> names;
  std::vector<array> inputs{x};
  for (auto& [name, p] : layer->trainable_parameters()) {
    names.push_back(name);
    inputs.push_back(p);
  }
  // Dropout must draw the same masks when the backward pass recomputes the layer: every run of
  // the body starts from one seed, and leaves the global key sequence at another, fresh one.
  std::optional<uint64_t> seed;
  if (layer->training()) {
    auto words = random::bits({2}).to_vector<uint32_t>();
    seed = (uint64_t{words[0]} << 32) | words[1];
  }
  auto body = [layer, names, mask, seed](const std::vector<array>& in) {
    nn::ParameterMap given, saved = layer->trainable_parameters();
    for (size_t k = 0; k < names.size(); ++k) given.emplace(names[k], in[k + 1]);
    layer->update(given);
    if (seed) random::seed(*seed);
    array out = (*layer)(in[0], mask, nullptr);
    if (seed) random::seed(*seed + 1);
    layer->update(saved);
    return std::vector<array>{out};
  };
  return checkpoint(body)(inputs)[0];
}

array TransformerBody::operator()(const array& tokens, Cache* cache, bool checkpoint_layers) {
  const int T = static_cast<int>(tokens.shape(1));
  array h = (*embed_tokens_)(tokens);
  if (args_.scale_embeddings) {
    h = multiply(h, array(std::sqrt(static_cast<float>(args_.hidden_size)), h.dtype()));
  }
  // One mask per distinct window, asked of the first layer's cache that uses it.
  std::map<std::optional<int>, AttentionMask> masks;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    const auto& window = args_.layer_windows[i];
    if (!masks.count(window)) {
      masks[window] = cache ? (*cache)[i]->make_mask(T, window) : create_attention_mask(T, 0, window);
    }
  }
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    const AttentionMask& mask = masks.at(args_.layer_windows[i]);
    if (checkpoint_layers && !cache) {
      h = checkpointed_layer(i, h, mask);
      continue;
    }
    KVCache* layer_cache = cache ? (*cache)[i].get() : nullptr;
    h = (*layers_)[i](h, mask, layer_cache);
  }
  return (*norm_)(h);
}

// ---- TransformerLM ----

TransformerLM::TransformerLM(std::string model_type, TransformerArgs args, FeedForwardFactory ffn)
    : Model(std::move(model_type)), args_(std::move(args)) {
  if (!ffn) {
    const TransformerArgs& a = args_;
    ffn = [&a](int) -> std::pair<std::string, std::shared_ptr<nn::UnaryModule>> {
      return {"mlp", std::make_shared<MLP>(a.hidden_size, a.intermediate_size, a.hidden_act, a.mlp_bias,
                                           a.fused_gate_up)};
    };
  }
  model_ = register_module("model", std::make_shared<TransformerBody>(args_, ffn));
  if (!args_.tie_word_embeddings) {
    lm_head_ = register_module("lm_head", make_linear(args_.hidden_size, args_.vocab_size, false));
  }
}

array TransformerLM::operator()(const array& tokens, Cache* cache) {
  if (tokens.ndim() != 2) {
    throw std::invalid_argument("[" + model_type() + "] tokens must be [batch, length], got " +
                                std::to_string(tokens.ndim()) + " dimensions");
  }
  if (!is_integral(tokens.dtype())) {
    throw std::invalid_argument("[" + model_type() + "] tokens must be integers, got " + to_string(tokens.dtype()));
  }
  if (tokens.is_evaluated()) {
    // Ids from the caller (not computed in the graph) are checked: an embedding lookup would
    // silently clamp them.
    for (int64_t id : array(tokens).to_vector<int64_t>()) {
      if (id < 0 || id >= vocab_size()) {
        throw std::out_of_range("[" + model_type() + "] token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                std::to_string(vocab_size()) + ")");
      }
    }
  }
  if (cache && static_cast<int>(cache->size()) != num_layers()) {
    throw std::invalid_argument("[" + model_type() + "] the cache has " + std::to_string(cache->size()) +
                                " layers, the model " + std::to_string(num_layers()));
  }
  array h = (*model_)(tokens, cache, grad_checkpoint());
  array logits = lm_head_ ? (**lm_head_)(h) : model_->embed_tokens().as_linear(h);
  if (logits.dtype() != float32) {
    logits = astype(logits, float32);
  }
  if (args_.final_logit_softcapping) {
    logits = softcap(logits, *args_.final_logit_softcapping);
  }
  return logits;
}

std::vector<PackedMatrix> TransformerLM::decoding_matrices() {
  std::vector<PackedMatrix> matrices = Model::decoding_matrices();
  if (lm_head_) return matrices;
  if (auto* table = dynamic_cast<nn::QuantizedEmbedding*>(&model_->embed_tokens())) {
    matrices.push_back(table->packed_matrix());
  }
  return matrices;
}

nn::ParameterMap TransformerLM::sanitize(nn::ParameterMap weights) const {
  weights = Model::sanitize(std::move(weights));
  // weight, or for a quantized head the packed weight with its scales and biases
  const char* parts[] = {"weight", "scales", "biases"};
  if (args_.tie_word_embeddings) {
    for (const char* part : parts) {
      weights.erase(std::string("lm_head.") + part);
    }
  } else if (!weights.count("lm_head.weight")) {
    // Checkpoints that tie their head without saying so in config.json omit lm_head.
    for (const char* part : parts) {
      auto it = weights.find(std::string("model.embed_tokens.") + part);
      if (it != weights.end()) {
        weights.emplace(std::string("lm_head.") + part, it->second);
      }
    }
  }
  return weights;
}

}  // namespace tessera::lm
