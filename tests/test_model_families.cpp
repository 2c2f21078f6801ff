// The families rho runs, each against a float64 restatement of its transformers equations
// (tests/fixtures/make_family_fixtures.py, Debian python3-torch): Llama with llama3 rotary
// scaling, a tied head and head_dim != hidden / heads; Llama with linear scaling and attention
// biases; Qwen2.5-style q/k/v biases, tied head, theta 1e6 and an unused window; Qwen2 with a
// window on its upper layer; Mistral with a window shorter than the sequence. Each fixture is an
// HF directory (config.json in transformers 4 or 5 style + model.safetensors) loaded as a user's
// would be. rho runs in fp32; tolerance 1e-4 max abs for logits, losses and gradients.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "common/fileio.h"
#include "eval/generation/generate.h"
#include "model/fused_head.h"
#include "model/io.h"
#include "model/safetensors.h"
#include "test_util.h"
#include "padded_batch.h"
#include "train/step.h"

namespace {

using rho_test::contains;
using rho_test::error_of;
using rho_test::TempDir;

constexpr double kTol = 1e-4;
const std::vector<std::string> kFamilies = {"llama3_tied", "llama_linear_bias", "qwen2_tied", "qwen2_swa",
                                            "mistral_swa"};

std::string dir_of(const std::string& name) { return rho_test::fixture_dir() + "/families/" + name; }

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

struct Family {
  std::string name;
  rho::LlamaForCausalLM model;
  std::map<std::string, torch::Tensor> expected;
  explicit Family(const std::string& n)
      : name(n), model(rho::load_model(dir_of(n))),
        expected(rho::load_safetensors(dir_of(n) + "/expected.safetensors").tensors) {}
  torch::Tensor get(const std::string& k) const { return expected.at(k); }
};

TEST(ModelFamilies, ConfigsReadAsTransformersReadsThem) {
  auto c = rho::load_config(dir_of("llama3_tied") + "/config.json");  // transformers 4 style
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.head_dim(), 12);  // not hidden / heads = 8
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 1024);

  c = rho::load_config(dir_of("llama_linear_bias") + "/config.json");  // transformers 5 style
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_TRUE(c.qkv_bias() && c.o_bias());

  c = rho::load_config(dir_of("qwen2_tied") + "/config.json");
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_TRUE(c.qkv_bias());
  EXPECT_FALSE(c.o_bias());
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.sliding_window, 4);  // kept for export, but use_sliding_window is false:
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) EXPECT_EQ(c.layer_window(i), 0) << i;

  c = rho::load_config(dir_of("qwen2_swa") + "/config.json");
  EXPECT_EQ(c.layer_window(0), 0);  // below max_window_layers: full attention
  EXPECT_EQ(c.layer_window(1), 5);
  // layer_types (transformers 5 writes it) decides over max_window_layers.
  auto j = nlohmann::json::parse(rho::read_file(dir_of("qwen2_swa") + "/config.json"));
  j["layer_types"] = {"sliding_attention", "full_attention"};
  c = rho::config_from_json(j, "config.json");
  EXPECT_EQ(c.layer_window(0), 5);
  EXPECT_EQ(c.layer_window(1), 0);

  c = rho::load_config(dir_of("mistral_swa") + "/config.json");
  EXPECT_EQ(c.model_type, "mistral");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) EXPECT_EQ(c.layer_window(i), 5) << i;
  j = nlohmann::json::parse(rho::read_file(dir_of("mistral_swa") + "/config.json"));
  j["sliding_window"] = nullptr;  // Mistral 7B v0.2 on: full attention
  EXPECT_EQ(rho::config_from_json(j, "config.json").layer_window(0), 0);
}

TEST(ModelFamilies, TransformersFourAndFiveStylesGiveOneConfig) {
  // The same Llama-3.2 settings written both ways.
  const auto v4 = nlohmann::json::parse(R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192}, "torch_dtype": "bfloat16"})");
  auto v5 = v4;
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5.erase("torch_dtype");
  v5["dtype"] = "bfloat16";
  v5["rope_parameters"] = v4["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 500000.0;
  auto old_key = v4;  // transformers before 4.43 wrote "type"
  old_key["rope_scaling"].erase("rope_type");
  old_key["rope_scaling"]["type"] = "llama3";
  const auto a = rho::to_json(rho::config_from_json(v4, "v4")), b = rho::to_json(rho::config_from_json(v5, "v5"));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, rho::to_json(rho::config_from_json(old_key, "old")));
  EXPECT_EQ(a["rope_scaling"]["rope_type"], "llama3");
}

TEST(ModelFamilies, LogitsAndLossesMatchTheFloat64Restatement) {
  for (const auto& name : kFamilies) {
    Family f(name);
    torch::NoGradGuard no_grad;
    auto logits = f.model->forward(f.get("input_ids"));  // (B, T, V)
    auto losses = rho::per_token_loss(logits, f.get("targets"));  // (B, T)
    const double logit_err = max_abs_diff(logits, f.get("logits"));
    const double loss_err = max_abs_diff(losses, f.get("per_token_loss"));
    EXPECT_LT(logit_err, kTol) << name;
    EXPECT_LT(loss_err, kTol) << name;
    std::printf("%-18s logits max abs error %.3g, per-token loss %.3g\n", name.c_str(), logit_err, loss_err);
  }
}

// A training step's gradients, through the trainer's own code (accumulate_gradients: the fused
// head by default, the plain head as well), against the restatement's float64 gradients.
TEST(ModelFamilies, TrainingStepGradientsMatchTheFloat64Restatement) {
  for (const auto& name : kFamilies) {
    for (bool fused : {true, false}) {
      Family f(name);
      rho::Batch batch{f.get("input_ids"), f.get("targets"), {}};
      rho::StepSettings settings;  // CLM: the mean loss over every token
      settings.head.fused = fused;
      const auto stats = rho::accumulate_gradients(f.model, {batch}, settings);
      EXPECT_NEAR(stats.loss, f.get("loss").item<double>(), kTol) << name;
      double worst = 0;
      size_t checked = 0, expected_grads = 0;
      for (auto& [k, t] : f.expected) expected_grads += k.rfind("grad.", 0) == 0;
      for (auto& p : f.model->named_parameters()) {
        ASSERT_TRUE(p.value().grad().defined()) << name << " " << p.key();
        const double err = max_abs_diff(p.value().grad(), f.get("grad." + p.key()));
        EXPECT_LT(err, kTol) << name << ": gradient of " << p.key();
        worst = std::max(worst, err);
        ++checked;
      }
      EXPECT_EQ(checked, expected_grads) << name << ": every parameter of the reference, no more";
      std::printf("%-18s %s head: loss error %.3g, max gradient error %.3g over %zu parameters\n", name.c_str(),
                  fused ? "fused" : "plain", std::abs(stats.loss - f.get("loss").item<double>()), worst, checked);
    }
  }
}

TEST(ModelFamilies, ParametersCarryHfNamesBiasesAndTiedHeads) {
  auto names = [](const std::string& n) {
    std::set<std::string> s;
    for (auto& p : Family(n).model->named_parameters()) s.insert(p.key());
    return s;
  };
  const auto qwen = names("qwen2_tied");
  for (const char* b : {"q_proj.bias", "k_proj.bias", "v_proj.bias"})
    EXPECT_TRUE(qwen.count(std::string("model.layers.1.self_attn.") + b)) << b;
  EXPECT_FALSE(qwen.count("model.layers.1.self_attn.o_proj.bias"));  // Qwen2's o_proj has none
  EXPECT_FALSE(qwen.count("lm_head.weight"));
  EXPECT_TRUE(names("llama_linear_bias").count("model.layers.0.self_attn.o_proj.bias"));  // Llama's attention_bias
  EXPECT_FALSE(names("mistral_swa").count("model.layers.0.self_attn.q_proj.bias"));
  // num_params counts what the module holds: biases, head_dim, tied heads.
  for (const auto& n : kFamilies) {
    Family f(n);
    int64_t held = 0;
    for (auto& p : f.model->parameters()) held += p.numel();
    EXPECT_EQ(f.model->config.num_params(), held) << n;
  }
}

// Decoding with the KV cache, one token at a time after a 3-token prompt, equals the full
// forward: the window mask over the cache is the one the full forward uses.
TEST(ModelFamilies, KVCacheDecodingMatchesFullForward) {
  for (const auto& name : kFamilies) {
    Family f(name);
    torch::NoGradGuard no_grad;
    auto ids = f.get("input_ids");  // (B, T): T = 12 is longer than the windows (4, 5)
    auto full = f.model->forward(ids);
    rho::KVCache cache;
    std::vector<torch::Tensor> parts{f.model->logits(f.model->hidden_states(ids.slice(1, 0, 3), &cache))};
    for (int64_t t = 3; t < ids.size(1); ++t)
      parts.push_back(f.model->logits(f.model->hidden_states(ids.slice(1, t, t + 1), &cache)));
    const double err = max_abs_diff(torch::cat(parts, 1), full);
    EXPECT_LT(err, 1e-5) << name;
  }
}

// Prompts of lengths 12, 5, 9 and 1 left-padded into one batch (KVCache::pad), then three decoded
// tokens: each row's logits equal those of its prompt run alone, windows and GQA included.
TEST(ModelFamilies, PaddedBatchGivesEachRowWhatItGivesAlone) {
  for (const auto& name : kFamilies) {
    Family f(name);
    auto ids = f.get("input_ids");  // (B, 12)
    const int64_t L = ids.size(1);
    std::vector<torch::Tensor> prompts;
    for (int64_t length : {L, int64_t(5), int64_t(9), int64_t(1)})
      prompts.push_back(ids[int64_t(prompts.size()) % ids.size(0)].slice(0, L - length));
    const int64_t R = int64_t(prompts.size()), steps = 3;
    auto next = torch::arange(R * steps, torch::kLong).view({R, steps}) * 7 % f.model->config.vocab_size;  // (R, steps)
    EXPECT_LT(rho_test::padded_batch_error(f.model, f.model, prompts, next), 1e-5) << name;
  }
}

TEST(ModelFamilies, AttentionMaskIsTransformersSlidingWindow) {
  // 6 positions, window 3, no cache: position p sees p-2, p-1, p.
  auto m = rho::attention_mask(6, 6, 3, torch::kCPU);
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(m[p][j].item<bool>(), !(j <= p && p - j < 3)) << p << "," << j;
  // 2 new queries after 7 cached positions (absolute 7 and 8), window 3.
  m = rho::attention_mask(2, 9, 3, torch::kCPU);
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t j = 0; j < 9; ++j) EXPECT_EQ(m[t][j].item<bool>(), !(j <= 7 + t && 7 + t - j < 3)) << t << "," << j;
  EXPECT_TRUE(torch::equal(rho::attention_mask(5, 5, 0, torch::kCPU), rho::attention_mask(5, 5, 5, torch::kCPU)));
}

TEST(ModelFamilies, ExportThenImportKeepsConfigNamesAndWeights) {
  TempDir tmp;
  for (const auto& name : kFamilies) {
    Family f(name);
    const std::string out = tmp.path + "/" + name;
    rho::save_model(out, f.model);
    auto written = nlohmann::json::parse(rho::read_file(out + "/config.json"));
    written.erase("torch_dtype");
    EXPECT_EQ(written, rho::to_json(f.model->config)) << name;
    auto back = rho::load_model(out);
    EXPECT_EQ(rho::to_json(back->config), rho::to_json(f.model->config)) << name;
    const auto stored = rho::load_weights(out);
    EXPECT_EQ(stored.size(), f.model->named_parameters().size()) << name;
    EXPECT_EQ(stored.count("lm_head.weight"), f.model->config.tie_word_embeddings ? 0u : 1u) << name;
    for (auto& p : f.model->named_parameters())
      EXPECT_TRUE(torch::equal(p.value(), back->named_parameters()[p.key()])) << name << " " << p.key();
    // The copy computes what the fixture does.
    torch::NoGradGuard no_grad;
    EXPECT_LT(max_abs_diff(back->forward(f.get("input_ids")), f.get("logits")), kTol) << name;
  }
}

// Each refusal is one line naming config.json and the setting.
TEST(ModelFamilies, UnsupportedConfigsAreRefusedByName) {
  const auto base = nlohmann::json::parse(rho::read_file(dir_of("mistral_swa") + "/config.json"));
  auto refused = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& why) {
    auto j = base;
    edit(j);
    const std::string msg = error_of([&] { rho::config_from_json(j, "dir/config.json"); });
    EXPECT_EQ(msg.rfind("dir/config.json: ", 0), 0u) << msg;
    EXPECT_TRUE(contains(msg, why)) << msg << "\n  expected: " << why;
    EXPECT_FALSE(contains(msg, "\n")) << msg;
  };
  auto rope = [](const char* key, nlohmann::json r) { return [=](nlohmann::json& j) { j.erase("rope_parameters"); j[key] = r; }; };
  refused(rope("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}),
          "rope_scaling type \"yarn\" is not supported (rho supports default, linear, llama3)");
  refused(rope("rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}), "type \"dynamic\" is not supported");
  refused(rope("rope_parameters", {{"rope_type", "longrope"}, {"rope_theta", 1e4}}),
          "rope_parameters type \"longrope\" is not supported");
  refused(rope("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0},
                                {"original_max_position_embeddings", 8192}}),
          "rope_scaling.low_freq_factor is missing");
  refused(rope("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0},
                                {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}),
          "0 < low_freq_factor < high_freq_factor");
  refused([](nlohmann::json& j) { j["model_type"] = "gemma2"; j.erase("architectures"); },
          "model_type \"gemma2\" is not supported (rho runs llama, mistral, qwen2)");
  refused([](nlohmann::json& j) { j.erase("model_type"); j["architectures"] = {"Gemma2ForCausalLM"}; },
          "architecture \"Gemma2ForCausalLM\" is not supported");
  refused([](nlohmann::json& j) { j["architectures"] = {"MistralForSequenceClassification"}; },
          "architecture \"MistralForSequenceClassification\" is not supported");
  refused([](nlohmann::json& j) { j["architectures"] = {"Qwen2ForCausalLM"}; },
          "architecture \"Qwen2ForCausalLM\" does not match model_type \"mistral\"");
  refused([](nlohmann::json& j) { j["sliding_window"] = 0; }, "sliding_window must be positive or null");
  refused([](nlohmann::json& j) { j["head_dim"] = 7; }, "head dim 7 must be even");
  refused([](nlohmann::json& j) { j["partial_rotary_factor"] = 0.5; }, "partial_rotary_factor is not supported");
  refused([](nlohmann::json& j) { j["hidden_act"] = "gelu"; }, "hidden_act \"gelu\" is not supported");
  refused([](nlohmann::json& j) { j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}}; },
          "rope_parameters per layer type is not supported");
  refused([](nlohmann::json& j) {
    j["model_type"] = "qwen2";
    j["architectures"] = {"Qwen2ForCausalLM"};
    j["use_sliding_window"] = false;
    j["layer_types"] = {"full_attention", "sliding_attention"};
  }, "layer_types has sliding_attention layers but no window");
  refused([](nlohmann::json& j) {
    j["model_type"] = "qwen2";
    j["architectures"] = {"Qwen2ForCausalLM"};
    j["layer_types"] = {"full_attention"};
  }, "layer_types has 1 entries for 2 layers");
}

// Greedy generation with the KV cache equals generation that re-runs the whole sequence, for a
// Mistral-style model whose window (6) is far shorter than prompt + generation (~45 tokens).
TEST(ModelFamilies, SlidingWindowGenerationWithCacheEqualsWithout) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 80; ++i)
    text += "{\"text\": \"window " + std::to_string(i * 37 % 101) + " slides over " + std::to_string(i) + " tokens\"}\n";
  const auto tok = rho_test::train_test_tokenizer({tmp.write("t.jsonl", text)}, tmp.path + "/tok.model", 300);
  auto c = rho::preset("debug");
  c.model_type = "mistral";
  c.sliding_window = 6;
  c.vocab_size = tok.vocab_size();
  torch::manual_seed(5);
  rho::LlamaForCausalLM model(c);
  model->eval();
  rho::GenerateOptions g;
  g.max_new_tokens = 40;
  g.stop_at_eos = false;
  const auto prompt = tok.encode("window 12 slides over");
  g.use_cache = true;
  const auto cached = rho::generate(model, tok, prompt, g);
  g.use_cache = false;
  const auto reference = rho::generate(model, tok, prompt, g);
  EXPECT_EQ(cached.tokens, reference.tokens);
  EXPECT_EQ(cached.tokens.size(), 40u);
  // The window is in force: the same weights without it generate something else.
  auto full = c;
  full.sliding_window = 0;
  rho::LlamaForCausalLM unwindowed(full);
  {
    torch::NoGradGuard ng;
    for (auto& p : model->named_parameters()) unwindowed->named_parameters()[p.key()].copy_(p.value());
  }
  EXPECT_NE(rho::generate(unwindowed, tok, prompt, g).tokens, reference.tokens);
}

}  // namespace
