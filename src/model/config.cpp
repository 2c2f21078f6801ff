#include "model/config.h"

#include <cmath>
#include <map>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

namespace {

// The families rho runs: HF model_type -> the architecture transformers saves for it.
const std::map<std::string, std::string>& families() {
  static const std::map<std::string, std::string> f = {
      {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}};
  return f;
}

const char* kFamilies = "rho runs llama, mistral, qwen2";
const char* kArchitectures = "rho runs LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

}  // namespace

int64_t LlamaConfig::layer_window(int64_t i) const {
  if (model_type == "mistral") return sliding_window;
  if (model_type != "qwen2" || !use_sliding_window) return 0;
  // transformers' Qwen2Config: layer_types when given, else sliding from max_window_layers on.
  const bool sliding = layer_types.empty() ? i >= max_window_layers : layer_types.at(size_t(i)) == "sliding_attention";
  return sliding ? sliding_window : 0;
}

int64_t LlamaConfig::num_params() const {
  const int64_t C = hidden_size, D = head_dim(), q = num_attention_heads * D, kv = num_key_value_heads * D;
  const int64_t biases = (qkv_bias() ? q + 2 * kv : 0) + (o_bias() ? C : 0);
  const int64_t per_layer = C * q /*q*/ + 2 * C * kv /*k,v*/ + q * C /*o*/ + biases +
                            3 * C * intermediate_size /*gate,up,down*/ + 2 * C /*norms*/;
  const int64_t emb = vocab_size * C;
  return emb + (tie_word_embeddings ? 0 : emb) + num_hidden_layers * per_layer + C;
}

int64_t LlamaConfig::num_matmul_params() const {
  return num_params() - (tie_word_embeddings ? 0 : vocab_size * hidden_size);
}

void LlamaConfig::validate(const std::string& where) const {
  if (!families().count(model_type))
    fail_file(where, "model_type \"" + model_type + "\" is not supported (" + kFamilies + ")");
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
  if (explicit_head_dim != 0) {
    in_range(explicit_head_dim, "head_dim", int64_t(1) << 12);
  } else if (hidden_size % num_attention_heads != 0) {
    fail_file(where, "hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                         std::to_string(num_attention_heads) + " (and no head_dim is given)");
  }
  if (num_attention_heads % num_key_value_heads != 0)
    fail_file(where, "num_attention_heads " + std::to_string(num_attention_heads) +
                         " is not divisible by num_key_value_heads " + std::to_string(num_key_value_heads));
  if (head_dim() % 2 != 0)
    fail_file(where, "head dim " + std::to_string(head_dim()) + " must be even for rotary embeddings");
  if (!(rms_norm_eps > 0) || !(rms_norm_eps < 1))
    fail_file(where, "rms_norm_eps must be in (0, 1), got " + std::to_string(rms_norm_eps));
  if (!(rope_theta > 0) || !std::isfinite(rope_theta)) fail_file(where, "rope_theta must be positive");
  const RopeScaling& r = rope_scaling;
  if (r.type != "default" && r.type != "linear" && r.type != "llama3")
    fail_file(where, "rope type \"" + r.type + "\" is not supported (rho supports default, linear, llama3)");
  if (r.type != "default" && !(r.factor > 0 && std::isfinite(r.factor)))
    fail_file(where, "rope scaling factor must be positive, got " + std::to_string(r.factor));
  if (r.type == "llama3") {
    // transformers divides by high - low: equal factors give NaN frequencies.
    if (!(r.low_freq_factor > 0) || !(r.high_freq_factor > r.low_freq_factor) || !std::isfinite(r.high_freq_factor))
      fail_file(where, "llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor, got " +
                           std::to_string(r.low_freq_factor) + " and " + std::to_string(r.high_freq_factor));
    in_range(r.original_max_position_embeddings, "original_max_position_embeddings", int64_t(1) << 24);
  }
  if (sliding_window < 0 || sliding_window > (int64_t(1) << 24))
    fail_file(where, "sliding_window " + std::to_string(sliding_window) + " is out of range (null or 1.." +
                         std::to_string(int64_t(1) << 24) + ")");
  if (max_window_layers < 0) fail_file(where, "max_window_layers must not be negative");
  if (!layer_types.empty()) {
    if (int64_t(layer_types.size()) != num_hidden_layers)
      fail_file(where, "layer_types has " + std::to_string(layer_types.size()) + " entries for " +
                           std::to_string(num_hidden_layers) + " layers");
    for (const auto& t : layer_types) {
      if (t != "full_attention" && t != "sliding_attention")
        fail_file(where, "layer_types entry \"" + t + "\" is not supported (full_attention or sliding_attention)");
      // transformers raises here too: a sliding layer needs a window.
      if (t == "sliding_attention" && model_type == "qwen2" && !(use_sliding_window && sliding_window > 0))
        fail_file(where, "layer_types has sliding_attention layers but no window (use_sliding_window false or "
                         "sliding_window null)");
    }
  }
}

nlohmann::json to_json(const LlamaConfig& c) {
  nlohmann::json j = {{"architectures", {families().at(c.model_type)}},
                      {"model_type", c.model_type},
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
  // Written only when they say something, so a plain Llama config keeps its JSON.
  if (c.explicit_head_dim > 0) j["head_dim"] = c.explicit_head_dim;
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "linear") j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", r.factor}};
  if (r.type == "llama3")
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", r.factor},
                         {"low_freq_factor", r.low_freq_factor},
                         {"high_freq_factor", r.high_freq_factor},
                         {"original_max_position_embeddings", r.original_max_position_embeddings}};
  const nlohmann::json window = c.sliding_window > 0 ? nlohmann::json(c.sliding_window) : nlohmann::json(nullptr);
  if (c.model_type == "llama" && c.attention_bias) j["attention_bias"] = true;
  if (c.model_type == "mistral") j["sliding_window"] = window;
  if (c.model_type == "qwen2") {
    j["use_sliding_window"] = c.use_sliding_window;
    j["sliding_window"] = window;
    j["max_window_layers"] = c.max_window_layers;
    if (!c.layer_types.empty()) j["layer_types"] = c.layer_types;
  }
  return j;
}

namespace {

// model_type and architectures: both must name a family rho runs, and the same one. A config
// with neither is a Llama (rho's own configs before families existed).
std::string read_family(const nlohmann::json& j, const std::string& where) {
  std::string type;
  if (j.contains("model_type") && !j["model_type"].is_null()) {
    if (!j["model_type"].is_string()) fail_file(where, "model_type must be a string");
    type = j["model_type"].get<std::string>();
    if (!families().count(type)) fail_file(where, "model_type \"" + type + "\" is not supported (" + kFamilies + ")");
  }
  if (j.contains("architectures") && !j["architectures"].is_null()) {
    const auto& a = j["architectures"];
    if (!a.is_array()) fail_file(where, "architectures must be a list of names");
    for (const auto& name : a) {
      if (!name.is_string()) fail_file(where, "architectures must be a list of names");
      std::string family;
      for (const auto& [t, arch] : families())
        if (arch == name.get<std::string>()) family = t;
      if (family.empty()) fail_file(where, "architecture " + name.dump() + " is not supported (" + kArchitectures + ")");
      if (type.empty()) type = family;
      if (family != type)
        fail_file(where, "architecture " + name.dump() + " does not match model_type \"" + type + "\"");
    }
  }
  return type.empty() ? "llama" : type;
}

// The rotary settings. transformers 4: rope_theta + rope_scaling (null or an object);
// transformers 5: rope_parameters {"rope_type", "rope_theta", and the scaling's fields}.
void read_rope(const nlohmann::json& j, const std::string& where, LlamaConfig& c) {
  if (j.contains("partial_rotary_factor") && !j["partial_rotary_factor"].is_null() && j["partial_rotary_factor"] != 1.0)
    fail_file(where, "partial_rotary_factor is not supported (rotary embeddings cover the whole head)");
  std::string key = "rope_scaling";
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) key = "rope_parameters";
  if (!j.contains(key) || j[key].is_null()) return;
  const auto& r = j[key];
  if (!r.is_object()) fail_file(where, key + " must be an object");
  for (const char* layer : {"full_attention", "sliding_attention"})
    if (r.contains(layer)) fail_file(where, key + " per layer type is not supported");
  auto num = [&](const char* k, double& dst, bool required) {
    if (!r.contains(k) || r[k].is_null()) {
      if (required) fail_file(where, key + "." + k + " is missing (needed for rope type \"" + c.rope_scaling.type + "\")");
      return;
    }
    if (!r[k].is_number()) fail_file(where, key + "." + k + " must be a number");
    dst = r[k].get<double>();
  };
  if (key == "rope_parameters") num("rope_theta", c.rope_theta, false);
  // "type" is what transformers wrote before "rope_type"; both still load there.
  const char* type_key = r.contains("rope_type") ? "rope_type" : "type";
  if (r.contains(type_key)) {
    if (!r[type_key].is_string()) fail_file(where, key + "." + type_key + " must be a string");
    c.rope_scaling.type = r[type_key].get<std::string>();
  }
  RopeScaling& s = c.rope_scaling;
  if (s.type != "default" && s.type != "linear" && s.type != "llama3")
    fail_file(where, key + " type \"" + s.type + "\" is not supported (rho supports default, linear, llama3)");
  if (s.type == "default") return;
  num("factor", s.factor, true);
  if (s.type != "llama3") return;
  num("low_freq_factor", s.low_freq_factor, true);
  num("high_freq_factor", s.high_freq_factor, true);
  const char* omp = "original_max_position_embeddings";
  if (!r.contains(omp) || !r[omp].is_number_integer())
    fail_file(where, key + "." + omp + " must be an integer (needed for rope type \"llama3\")");
  s.original_max_position_embeddings = r[omp].get<int64_t>();
}

LlamaConfig read_config_fields(const nlohmann::json& j, const std::string& where) {
  LlamaConfig c;
  c.model_type = read_family(j, where);
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
  auto get_bool = [&](const char* k, bool& dst) {
    if (!j.contains(k) || j[k].is_null()) return;
    if (!j[k].is_boolean()) fail_file(where, std::string(k) + " must be true or false");
    dst = j[k].get<bool>();
  };
  get_int("vocab_size", c.vocab_size);
  get_int("hidden_size", c.hidden_size);
  get_int("intermediate_size", c.intermediate_size);
  get_int("num_hidden_layers", c.num_hidden_layers);
  get_int("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;  // HF: absent means multi-head attention
  get_int("num_key_value_heads", c.num_key_value_heads);
  get_int("head_dim", c.explicit_head_dim);  // null: hidden_size / num_attention_heads
  if (j.contains("head_dim") && !j["head_dim"].is_null() && c.explicit_head_dim <= 0)
    fail_file(where, "head_dim must be positive, got " + j["head_dim"].dump());
  get_num("rms_norm_eps", c.rms_norm_eps);
  get_num("rope_theta", c.rope_theta);
  read_rope(j, where, c);
  get_int("max_position_embeddings", c.max_position_embeddings);
  get_num("initializer_range", c.initializer_range);
  get_bool("tie_word_embeddings", c.tie_word_embeddings);
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    fail_file(where, "hidden_act " + j["hidden_act"].dump() + " is not supported (only \"silu\")");
  if (j.contains("mlp_bias") && j["mlp_bias"].is_boolean() && j["mlp_bias"].get<bool>())
    fail_file(where, "mlp_bias = true is not supported");
  // Each family reads what its transformers config class reads, and nothing else: Llama has no
  // sliding window, Mistral and Qwen2 no attention_bias (Qwen2's q/k/v biases are fixed).
  if (c.model_type == "llama") get_bool("attention_bias", c.attention_bias);
  if (c.model_type != "llama") {
    get_int("sliding_window", c.sliding_window);
    if (j.contains("sliding_window") && !j["sliding_window"].is_null() && c.sliding_window <= 0)
      fail_file(where, "sliding_window must be positive or null, got " + j["sliding_window"].dump());
  }
  if (c.model_type == "qwen2") {
    get_bool("use_sliding_window", c.use_sliding_window);
    c.max_window_layers = 28;  // transformers' Qwen2Config default
    get_int("max_window_layers", c.max_window_layers);
    if (j.contains("layer_types") && !j["layer_types"].is_null()) {
      if (!j["layer_types"].is_array()) fail_file(where, "layer_types must be a list of names");
      for (const auto& t : j["layer_types"]) {
        if (!t.is_string()) fail_file(where, "layer_types must be a list of names");
        c.layer_types.push_back(t.get<std::string>());
      }
    }
  }
  c.validate(where);
  return c;
}

}  // namespace

LlamaConfig config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail_file(where, "config is not a JSON object");
  try {
    return read_config_fields(j, where);
  } catch (const nlohmann::json::exception& e) {
    // A field of an unexpected type deep inside: still name the file.
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
    c.model_type = "mistral";
    c.vocab_size = 32000, c.hidden_size = 4096, c.intermediate_size = 14336, c.num_hidden_layers = 32;
    c.num_attention_heads = 32, c.num_key_value_heads = 8, c.max_position_embeddings = 32768;
    c.rope_theta = 10000.0, c.sliding_window = 4096;
  } else {
    std::string names;
    for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    fail("unknown preset '" + name + "' (known: " + names + ")");
  }
  return c;
}

std::vector<std::string> preset_names() { return {"debug", "demo-s", "demo", "tinyllama-1.1b", "mistral-7b"}; }

}  // namespace rho
