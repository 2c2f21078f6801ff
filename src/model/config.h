// Llama model configuration, with Hugging Face `config.json` field names so that TinyLlama and
// Mistral configs load as they are.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rho {

struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 2048;
  int64_t intermediate_size = 5632;
  int64_t num_hidden_layers = 22;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 4;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Parameter count, embeddings included.
  int64_t num_params() const;
  // Parameters that take part in matmuls per token: everything but the input embedding table
  // (a lookup). With tied embeddings the table is the LM head, so it counts.
  int64_t num_matmul_params() const;

  // UserError naming `where` when a field is non-positive or inconsistent (hidden size not
  // divisible by heads, heads not divisible by kv heads, odd head dim for rotary).
  void validate(const std::string& where) const;
};

nlohmann::json to_json(const LlamaConfig& c);
// Reads HF config.json fields; unknown fields are ignored, missing ones keep defaults.
// UserError naming `where` on wrong types or invalid values.
LlamaConfig config_from_json(const nlohmann::json& j, const std::string& where);
LlamaConfig parse_config(const std::string& text, const std::string& where);
LlamaConfig load_config(const std::string& path);

// Named presets: debug (seconds), demo-s / demo (CPU demo), tinyllama-1.1b, mistral-7b.
// vocab_size of the small presets is a default: the trainer replaces it by the tokenizer's.
LlamaConfig preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace rho
