// Parity with the real Hugging Face `transformers` (not a restatement of it): a model made and
// saved by transformers loads in rho and gives the same logits and per-token losses.
// The case is made by scripts/gpu/hf_parity.py where transformers is installed (the GPU machine)
// and found through RHO_HF_PARITY_DIR; without it the test is skipped. fp32: 1e-4 max abs.
// bf16 on CUDA: both sides round every matmul to bf16, so logits differ by accumulated rounding;
// the bound is 5% of the logits' range.
#include <gtest/gtest.h>

#include <cstdlib>

#include "model/io.h"
#include "model/safetensors.h"

namespace {

TEST(HfParity, TransformersCheckpointGivesTheSameLogitsAndLosses) {
  const char* dir = std::getenv("RHO_HF_PARITY_DIR");
  if (!dir) GTEST_SKIP() << "RHO_HF_PARITY_DIR not set (made by scripts/gpu/hf_parity.py)";
  auto expected = rho::load_safetensors(std::string(dir) + "/expected.safetensors").tensors;
  auto model = rho::load_model(dir);
  torch::NoGradGuard no_grad;
  auto inputs = expected.at("input_ids");
  auto logits = model->forward(inputs);  // (B, T, V)
  const double err = (logits - expected.at("logits_fp32")).abs().max().item<double>();
  EXPECT_LT(err, 1e-4);
  auto losses = rho::per_token_loss(logits, expected.at("targets"));
  const double loss_err = (losses - expected.at("per_token_loss")).abs().max().item<double>();
  EXPECT_LT(loss_err, 1e-4);
  std::printf("transformers parity, CPU fp32: logits max abs error %.3g, per-token loss %.3g\n", err, loss_err);

  if (torch::cuda::is_available()) {
    model->to(torch::kCUDA);
    auto cuda_logits = model->forward(inputs.to(torch::kCUDA)).cpu();
    const double cuda_err = (cuda_logits - expected.at("logits_fp32")).abs().max().item<double>();
    EXPECT_LT(cuda_err, 1e-4);
    std::printf("transformers parity, CUDA fp32: logits max abs error %.3g\n", cuda_err);
    if (expected.count("logits_bf16")) {
      model->to(torch::kBFloat16);
      auto bf16 = model->forward(inputs.to(torch::kCUDA)).to(torch::kFloat).cpu();
      auto ref = expected.at("logits_bf16");
      const double range = ref.abs().max().item<double>();
      const double bf_err = (bf16 - ref).abs().max().item<double>();
      const double bf_mean = (bf16 - ref).abs().mean().item<double>();
      EXPECT_LT(bf_err, 0.05 * range);
      std::printf("transformers parity, CUDA bf16: logits max abs error %.3g, mean %.3g (|logits| max %.3g)\n",
                  bf_err, bf_mean, range);
    }
  }
}

}  // namespace
