// Parity of rho's Llama with an independent float64 re-statement of HF's LlamaForCausalLM
// (tests/fixtures/make_llama_fixture.py, Debian python3-torch): logits, per-token loss, mean loss
// and the gradient of every parameter. rho runs in fp32; tolerance 1e-4 max abs for each.
#include <gtest/gtest.h>

#include "model/io.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "test_util.h"

namespace {

constexpr double kTol = 1e-4;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

struct Fixture {
  rho::SafetensorsFile file = rho::load_safetensors(rho_test::fixture_dir() + "/llama_tiny.safetensors");
  rho::LlamaConfig config = rho::config_from_json(nlohmann::json::parse(file.metadata.at("config")), "fixture");
  torch::Tensor get(const std::string& k) const { return file.tensors.at(k); }
};

TEST(ModelParity, LogitsLossAndGradientsMatchReference) {
  Fixture fx;
  rho::LlamaForCausalLM model(fx.config);
  rho::assign_parameters(model, fx.file.tensors, "fixture", {"grad.", "input_ids", "targets", "logits", "per_token_loss", "loss"});

  auto logits = model->forward(fx.get("input_ids"));  // (B, T, V)
  auto losses = rho::per_token_loss(logits, fx.get("targets"));  // (B, T)
  auto loss = losses.mean();
  loss.backward();

  const double logit_err = max_abs_diff(logits, fx.get("logits"));
  EXPECT_LT(logit_err, kTol) << "logits";
  EXPECT_LT(max_abs_diff(losses, fx.get("per_token_loss")), kTol) << "per-token loss";
  EXPECT_LT(max_abs_diff(loss.reshape({1}), fx.get("loss")), kTol) << "loss";
  double worst_grad = 0;
  int checked = 0;
  for (auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    const double err = max_abs_diff(p.value().grad(), fx.get("grad." + p.key()));
    EXPECT_LT(err, kTol) << "gradient of " << p.key();
    worst_grad = std::max(worst_grad, err);
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 9 * fx.config.num_hidden_layers + 1);
  std::printf("max abs error: logits %.3g, grads %.3g over %d parameters\n", logit_err, worst_grad, checked);
}

TEST(ModelParity, TiedEmbeddingsUseTheEmbeddingTableAsHead) {
  Fixture fx;
  auto config = fx.config;
  config.tie_word_embeddings = true;
  rho::LlamaForCausalLM model(config);
  EXPECT_FALSE(model->named_parameters().contains("lm_head.weight"));
  auto hidden = model->hidden_states(fx.get("input_ids"));
  auto expected = torch::matmul(hidden, model->model->embed_tokens->weight.t());
  EXPECT_LT(max_abs_diff(model->logits(hidden), expected), 1e-6);
  EXPECT_EQ(config.num_params(), config.num_matmul_params());
}

TEST(ModelParity, KVCacheDecodingMatchesFullForward) {
  Fixture fx;
  rho::LlamaForCausalLM model(fx.config);
  torch::NoGradGuard no_grad;
  auto ids = fx.get("input_ids");  // (B, T)
  auto full = model->forward(ids);
  rho::KVCache cache;
  auto first = model->logits(model->hidden_states(ids.slice(1, 0, 4), &cache));
  std::vector<torch::Tensor> parts{first};
  for (int64_t t = 4; t < ids.size(1); ++t)
    parts.push_back(model->logits(model->hidden_states(ids.slice(1, t, t + 1), &cache)));
  EXPECT_LT(max_abs_diff(torch::cat(parts, 1), full), 1e-5);
}

}  // namespace
