#include "model/config.h"

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

int64_t LlamaConfig::num_params() const {
  const int64_t C = hidden_size, kv = num_key_value_heads * head_dim();
  const int64_t per_layer = C * C /*q*/ + 2 * C * kv /*k,v*/ + C * C /*o*/ +
                            3 * C * intermediate_size /*gate,up,down*/ + 2 * C /*norms*/;
  const int64_t emb = vocab_size * C;
  return emb + (tie_word_embeddings ? 0 : emb) + num_hidden_layers * per_layer + C;
}

int64_t LlamaConfig::num_matmul_params() const {
  return num_params() - (tie_word_embeddings ? 0 : vocab_size * hidden_size);
}

void LlamaConfig::validate(const std::string& where) const {
  // Upper bounds far above any real model, low enough that parameter counts fit in int64
  // (fuzz/regressions/config holds configs that overflowed them).
  auto in_range = [&](int64_t v, const char* name, int64_t max) {
    if (v <= 0) fail_file(where, std::string(name) + " must be positive, got " + std::to_string(v));
    if (v > max)
      fail_file(where, std::string(name) + " " + std::to_string(v) + " is out of range (1.." + std::to_string(max) + ")");
  };
  in_range(vocab_size, "vocab_size", int64_t(1) << 24);
  in_range(hidden_size, "hidden_size", int64_t(1) << 17);
  in_range(intermediate_size, "intermediate_size", int64_t(1) << 20);
  in_range(num_hidden_layers, "num_hidden_layers", int64_t(1) << 12);
  in_range(num_attention_heads, "num_attention_heads", int64_t(1) << 12);
  in_range(num_key_value_heads, "num_key_value_heads", int64_t(1) << 12);
  in_range(max_position_embeddings, "max_position_embeddings", int64_t(1) << 24);
  if (hidden_size % num_attention_heads != 0)
    fail_file(where, "hidden_size " + std::to_string(hidden_size) +
                         " is not divisible by num_attention_heads " + std::to_string(num_attention_heads));
  if (num_attention_heads % num_key_value_heads != 0)
    fail_file(where, "num_attention_heads " + std::to_string(num_attention_heads) +
                         " is not divisible by num_key_value_heads " + std::to_string(num_key_value_heads));
  if (head_dim() % 2 != 0)
    fail_file(where, "head dim " + std::to_string(head_dim()) + " must be even for rotary embeddings");
  if (!(rms_norm_eps > 0) || !(rms_norm_eps < 1))
    fail_file(where, "rms_norm_eps must be in (0, 1), got " + std::to_string(rms_norm_eps));
  if (!(rope_theta > 0)) fail_file(where, "rope_theta must be positive");
}

nlohmann::json to_json(const LlamaConfig& c) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size},
          {"num_hidden_layers", c.num_hidden_layers},
          {"num_attention_heads", c.num_attention_heads},
          {"num_key_value_heads", c.num_key_value_heads},
          {"rms_norm_eps", c.rms_norm_eps},
          {"rope_theta", c.rope_theta},
          {"max_position_embeddings", c.max_position_embeddings},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"initializer_range", c.initializer_range},
          {"hidden_act", "silu"}};
}

namespace {

LlamaConfig read_config_fields(const nlohmann::json& j, const std::string& where) {
  LlamaConfig c;
  auto get_int = [&](const char* k, int64_t& dst) {
    if (!j.contains(k) || j[k].is_null()) return;
    if (!j[k].is_number_integer()) fail_file(where, std::string(k) + " must be an integer");
    dst = j[k].get<int64_t>();
  };
  auto get_num = [&](const char* k, double& dst) {
    if (!j.contains(k) || j[k].is_null()) return;
    if (!j[k].is_number()) fail_file(where, std::string(k) + " must be a number");
    dst = j[k].get<double>();
  };
  get_int("vocab_size", c.vocab_size);
  get_int("hidden_size", c.hidden_size);
  get_int("intermediate_size", c.intermediate_size);
  get_int("num_hidden_layers", c.num_hidden_layers);
  get_int("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;  // HF: absent means multi-head attention
  get_int("num_key_value_heads", c.num_key_value_heads);
  get_num("rms_norm_eps", c.rms_norm_eps);
  get_num("rope_theta", c.rope_theta);
  // transformers >= 5 nests the rotary settings: {"rope_parameters": {"rope_type": "default", "rope_theta": ...}}.
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    if (rp.contains("rope_type") && rp["rope_type"] != "default")
      fail_file(where, "rope_parameters.rope_type " + rp["rope_type"].dump() + " is not supported (only default)");
    if (rp.contains("rope_theta")) {
      if (!rp["rope_theta"].is_number()) fail_file(where, "rope_parameters.rope_theta must be a number");
      c.rope_theta = rp["rope_theta"].get<double>();
    }
  }
  get_int("max_position_embeddings", c.max_position_embeddings);
  get_num("initializer_range", c.initializer_range);
  if (j.contains("tie_word_embeddings") && !j["tie_word_embeddings"].is_null()) {
    if (!j["tie_word_embeddings"].is_boolean()) fail_file(where, "tie_word_embeddings must be true or false");
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    fail_file(where, "hidden_act must be \"silu\" for Llama");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null() &&
      !(j["rope_scaling"].is_object() && j["rope_scaling"].value("rope_type", "") == "default"))
    fail_file(where, "rope_scaling is not supported");
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    if (!j["head_dim"].is_number_integer()) fail_file(where, "head_dim must be an integer");
    // Compared by division: head_dim * heads overflowed for a huge head_dim (fuzz/regressions/config).
    const int64_t hd = j["head_dim"].get<int64_t>();
    if (c.num_attention_heads > 0 && (c.hidden_size % c.num_attention_heads != 0 || hd != c.hidden_size / c.num_attention_heads))
      fail_file(where, "head_dim " + j["head_dim"].dump() + " times num_attention_heads is not hidden_size (not supported)");
  }
  for (const char* k : {"attention_bias", "mlp_bias"})
    if (j.contains(k) && j[k].is_boolean() && j[k].get<bool>())
      fail_file(where, std::string(k) + " = true is not supported (Llama has no biases)");
  c.validate(where);
  return c;
}

}  // namespace

LlamaConfig config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail_file(where, "config is not a JSON object");
  try {
    return read_config_fields(j, where);
  } catch (const nlohmann::json::exception& e) {
    // A field of an unexpected type deep inside (e.g. a numeric rope_type): still name the file.
    fail_file(where, std::string("unexpected field type: ") + e.what());
  }
}

LlamaConfig parse_config(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail_file(where, std::string("invalid JSON: ") + e.what());
  }
  return config_from_json(j, where);
}

LlamaConfig load_config(const std::string& path) { return parse_config(read_file(path), path); }

LlamaConfig preset(const std::string& name) {
  LlamaConfig c;
  c.initializer_range = 0.02;
  if (name == "debug") {  // runs a step in milliseconds: tests and smoke runs
    c.vocab_size = 512, c.hidden_size = 64, c.intermediate_size = 176, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 2, c.max_position_embeddings = 256;
  } else if (name == "demo-s") {  // ~3M parameters at vocab 4096: the CPU demo's size
    c.vocab_size = 4096, c.hidden_size = 192, c.intermediate_size = 512, c.num_hidden_layers = 4;
    c.num_attention_heads = 6, c.num_key_value_heads = 2, c.max_position_embeddings = 512;
  } else if (name == "demo") {  // ~10M parameters at vocab 4096
    c.vocab_size = 4096, c.hidden_size = 320, c.intermediate_size = 864, c.num_hidden_layers = 6;
    c.num_attention_heads = 8, c.num_key_value_heads = 4, c.max_position_embeddings = 512;
  } else if (name == "tinyllama-1.1b") {  // TinyLlama/TinyLlama-1.1B config.json
    c.vocab_size = 32000, c.hidden_size = 2048, c.intermediate_size = 5632, c.num_hidden_layers = 22;
    c.num_attention_heads = 32, c.num_key_value_heads = 4, c.max_position_embeddings = 2048;
  } else if (name == "mistral-7b") {  // mistralai/Mistral-7B-v0.1 config.json
    c.vocab_size = 32000, c.hidden_size = 4096, c.intermediate_size = 14336, c.num_hidden_layers = 32;
    c.num_attention_heads = 32, c.num_key_value_heads = 8, c.max_position_embeddings = 32768;
    c.rope_theta = 10000.0;
  } else {
    std::string names;
    for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    fail("unknown preset '" + name + "' (known: " + names + ")");
  }
  return c;
}

std::vector<std::string> preset_names() { return {"debug", "demo-s", "demo", "tinyllama-1.1b", "mistral-7b"}; }

}  // namespace rho
