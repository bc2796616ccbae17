// Causal language models and the Hugging Face folder loader.
#pragma once

#include "tessera/array.h"
#include "tessera/lm/kv_cache.h"
#include "tessera/nn/module.h"
#include "tessera/quantized.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tessera::lm {

class Tokenizer;
class ChatTemplate;

using Cache = std::vector<std::shared_ptr<KVCache>>;

// A causal LM: a module tree whose parameter names are the checkpoint's
// (`model.layers.0.self_attn.q_proj.weight`).
class Model : public nn::Module {
 public:
  // tokens int32 [B, T]. cache: nullptr (positions 0..T-1, nothing kept) or one entry per
  // layer, which this call extends. Returns logits [B, T, V] in float32.
  virtual array operator()(const array& tokens, Cache* cache = nullptr) = 0;

  // One StandardKVCache per layer; with max_kv_size, RotatingKVCache(max_kv_size, keep 4).
  virtual Cache make_cache(std::optional<int> max_kv_size = {}) const;

  virtual int num_layers() const = 0;
  virtual int vocab_size() const = 0;
  const std::string& model_type() const { return model_type_; }

  // Gradient checkpointing for training: forward passes without a cache recompute each
  // decoder layer's activations in the backward pass instead of keeping them alive.
  void set_grad_checkpoint(bool on) { grad_checkpoint_ = on; }
  bool grad_checkpoint() const { return grad_checkpoint_; }

  // Maps checkpoint tensors to this model's parameter names (drops buffers such as
  // rotary inv_freq, ties the head to the embeddings, stacks MoE experts, ...).
  virtual nn::ParameterMap sanitize(nn::ParameterMap weights) const;

  // Lays quantized weights out for decoding now rather than on the first tokens (their size again
  // in memory, one block for all of them): those of decoding_matrices(). Float weights stay mapped.
  void prepare_decoding();
  // The packed matrices that decoding multiplies with: every QuantizedLinear, and a quantized
  // embedding table that is the output head.
  virtual std::vector<PackedMatrix> decoding_matrices();
  // Sets quantized_matmul's int8_activations on every quantized layer and quantized embedding
  // table (the output head when tied); returns how many there are.
  int set_int8_activations(bool on);

 protected:
  explicit Model(std::string model_type) : model_type_(std::move(model_type)) {}

 private:
  std::string model_type_;
  bool grad_checkpoint_ = false;
};

struct GenerationConfig {
  std::vector<int> eos_token_ids;
  std::optional<int> bos_token_id;
};

struct LoadOptions {
  // Casts every floating-point weight to this dtype (otherwise weights keep the stored one).
  std::optional<Dtype> dtype;
  // A LoRA adapter folder (adapters.safetensors + adapter_config.json) applied on top of the
  // loaded model.
  std::string adapter_path;
  // Model::prepare_decoding after loading: for generation, not for training or scoring.
  bool prepare_decoding = false;
  // Model::set_int8_activations(true) after loading; a model without quantized layers is an
  // error.
  bool int8_activations = false;
};

struct LoadedModel {
  std::shared_ptr<Model> model;
  std::shared_ptr<Tokenizer> tokenizer;  // nullptr for a folder without tokenizer files
  std::shared_ptr<ChatTemplate> chat_template;  // never null; empty() if the model has none
  // eos ids from generation_config.json, else config.json, else the tokenizer
  GenerationConfig generation_config;
  nlohmann::json config;
  std::string path;
};

// Loads a Hugging Face model folder: config.json, model.safetensors or the shards of
// model.safetensors.index.json, generation_config.json, and the tokenizer and chat template
// when present. Errors are std::runtime_error with one line naming the file or tensor.
LoadedModel load(const std::string& path, const LoadOptions& options = {});

// Builds a model with its initial parameters from a parsed config.json (`source` names the
// file in errors); load() then replaces the parameters with the checkpoint's.
std::shared_ptr<Model> make_model(const nlohmann::json& config, const std::string& source = "config.json");

// The model_type values make_model accepts, sorted.
std::vector<std::string> supported_model_types();

}  // namespace tessera::lm
