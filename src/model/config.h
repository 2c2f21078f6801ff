// Model configuration with Hugging Face `config.json` field names, for the three families rho
// runs: Llama (TinyLlama, Llama-3.x, SmolLM), Mistral and Qwen2/Qwen2.5. They share one
// architecture (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU) and differ only in
// what this struct holds: biases on the attention projections, rotary scaling, a sliding
// attention window, the head dimension and whether the LM head is the embedding table.
// docs/models.md lists every field read and everything refused.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rho {

// HF's rope_scaling (transformers 4) / rope_parameters (5), for the types rho computes.
struct RopeScaling {
  std::string type = "default";  // "default", "linear" or "llama3"
  double factor = 1.0;           // linear, llama3: positions stretched by this much
  double low_freq_factor = 1.0;  // llama3: wavelengths above original/low are divided by factor
  double high_freq_factor = 4.0; // llama3: wavelengths below original/high are kept
  int64_t original_max_position_embeddings = 8192;  // llama3: the pre-training context
};

struct LlamaConfig {
  std::string model_type = "llama";  // "llama", "mistral" or "qwen2" (HF model_type)
  int64_t vocab_size = 32000;
  int64_t hidden_size = 2048;
  int64_t intermediate_size = 5632;
  int64_t num_hidden_layers = 22;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 4;
  int64_t explicit_head_dim = 0;  // HF head_dim; 0: hidden_size / num_attention_heads
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;
  bool attention_bias = false;  // llama only: biases on q, k, v and o (qwen2 has q, k, v biases always)
  // Sliding-window attention: a token attends to itself and the sliding_window - 1 positions
  // before it. 0 = HF's null. Mistral applies it to every layer; qwen2 only when
  // use_sliding_window, to the layers layer_types names (or, without layer_types, to layers
  // max_window_layers and up); llama ignores it.
  int64_t sliding_window = 0;
  bool use_sliding_window = false;       // qwen2
  int64_t max_window_layers = 0;         // qwen2
  std::vector<std::string> layer_types;  // qwen2: "full_attention" / "sliding_attention" per layer; empty: derived

  int64_t head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : hidden_size / num_attention_heads; }
  bool qkv_bias() const { return attention_bias || model_type == "qwen2"; }
  bool o_bias() const { return attention_bias; }
  // The window of layer `i` as transformers applies it; 0: full causal attention.
  int64_t layer_window(int64_t i) const;
  // Parameter count, embeddings included.
  int64_t num_params() const;
  // Parameters that take part in matmuls per token: everything but the input embedding table
  // (a lookup). With tied embeddings the table is the LM head, so it counts.
  int64_t num_matmul_params() const;

  // UserError naming `where` when a field is non-positive or inconsistent (heads not divisible
  // by kv heads, odd head dim for rotary, a llama3 scaling that divides by zero, sliding layers
  // without a window, ...).
  void validate(const std::string& where) const;
};

// config.json as transformers 4 writes it (rope_theta + rope_scaling, which 5 also reads), with
// the family's architecture and fields. A plain Llama config gives the same JSON as before
// families existed (score files fingerprint it).
nlohmann::json to_json(const LlamaConfig& c);
// Reads HF config.json fields, transformers 4 or 5 style; unknown fields are ignored, missing
// ones keep defaults. An unsupported model_type, architecture or rotary scaling is refused by
// name. UserError naming `where` on wrong types or invalid values.
LlamaConfig config_from_json(const nlohmann::json& j, const std::string& where);
LlamaConfig parse_config(const std::string& text, const std::string& where);
LlamaConfig load_config(const std::string& path);

// Named presets: debug (seconds), demo-s / demo (CPU demo), tinyllama-1.1b, mistral-7b.
// vocab_size of the small presets is a default: the trainer replaces it by the tokenizer's.
LlamaConfig preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace rho
