// Devices and precision on any machine: --device/--precision resolution, bf16 autocast (which
// libtorch also runs on the CPU) against fp32 through the fused head, and activation
// checkpointing against keeping the activations. The CUDA set is in test_cuda.cpp.
#include <gtest/gtest.h>

#include "test_util.h"

#include "common/torch_compat.h"
#include "model/compute.h"
#include "model/fused_head.h"
#include "model/llama.h"
#include "measure/token_losses.h"

namespace {

using rho_test::contains;
using rho_test::error_of;

rho::LlamaForCausalLM tiny(uint64_t seed) {
  torch::manual_seed(seed);
  auto c = rho::preset("debug");
  c.vocab_size = 97;
  return rho::LlamaForCausalLM(c);
}

std::pair<torch::Tensor, torch::Tensor> batch(uint64_t seed) {
  torch::manual_seed(seed);
  auto ids = torch::randint(97, {3, 17}, torch::kLong);  // (B, T+1)
  return {ids.slice(1, 0, 16), ids.slice(1, 1, 17)};
}

TEST(Compute, DeviceAndPrecisionResolveOrNameTheFlag) {
  const auto c = rho::resolve_compute("cpu", "auto");
  EXPECT_TRUE(c.device.is_cpu());
  EXPECT_FALSE(c.bf16());  // auto: fp32 on the CPU
  EXPECT_TRUE(rho::resolve_compute("cpu", "bf16").bf16());
  EXPECT_EQ(rho::resolve_compute("auto", "auto").device.is_cuda(), torch::cuda::is_available());
  EXPECT_TRUE(contains(error_of([] { rho::resolve_compute("gpu", "auto"); }), "--device must be auto, cpu, cuda or cuda:N"));
  EXPECT_TRUE(contains(error_of([] { rho::resolve_compute("cpu", "fp16"); }), "--precision must be auto, fp32 or bf16"));
  EXPECT_TRUE(contains(error_of([] { rho::resolve_compute("cuda:x", "auto"); }), "not cuda:N"));
  if (!torch::cuda::is_available())
    EXPECT_TRUE(contains(error_of([] { rho::resolve_compute("cuda", "auto"); }), "--device cuda: no CUDA device here"));
}

// bf16 autocast: the fused head's matmuls run in bf16 in forward and backward alike, and its
// losses and gradients stay within bf16's rounding of the fp32 ones; fp32 stays exact.
TEST(Compute, Bf16AutocastThroughTheFusedHeadStaysNearFp32) {
  auto [in, tg] = batch(2);
  std::map<std::string, torch::Tensor> grads[2];
  torch::Tensor losses[2];
  for (int bf16 = 0; bf16 < 2; ++bf16) {
    auto model = tiny(1);
    {
      rho::compat::AutocastScope autocast(torch::kCPU, bf16 == 1);
      losses[bf16] = rho::model_token_losses(model, in, tg);  // (B, T)
    }
    EXPECT_EQ(losses[bf16].scalar_type(), torch::kFloat);  // per-token losses are fp32 either way
    losses[bf16].mean().backward();
    for (auto& p : model->named_parameters()) grads[bf16][p.key()] = p.value().grad().clone();
  }
  EXPECT_FALSE(rho::compat::autocast_enabled(torch::kCPU));  // the scope restored the state
  const double loss_err = (losses[1] - losses[0]).abs().max().item<double>();
  EXPECT_LT(loss_err, 0.05) << "bf16 per-token losses";
  EXPECT_GT(loss_err, 0.0) << "autocast must have changed the arithmetic";
  for (auto& [name, g] : grads[0]) {
    const double scale = g.abs().max().item<double>();
    EXPECT_LT((grads[1][name] - g).abs().max().item<double>(), 0.05 * scale + 1e-6) << name;
  }
}

// A bf16-weight copy (a reference that only scores) gives the losses of the fp32 model within
// bf16 rounding.
TEST(Compute, Bf16WeightsForInferenceStayNearFp32) {
  auto [in, tg] = batch(3);
  auto model = tiny(4);
  torch::NoGradGuard no_grad;
  auto fp32 = rho::model_token_losses(model, in, tg);
  rho::prepare_for_inference(*model, rho::resolve_compute("cpu", "bf16"));
  EXPECT_EQ(model->head_weight().scalar_type(), torch::kBFloat16);
  auto bf16 = rho::model_token_losses(model, in, tg);
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat);
  EXPECT_LT((bf16 - fp32).abs().max().item<double>(), 0.05);
}

// Recomputing each layer in backward gives the gradients of keeping its activations.
TEST(Compute, ActivationCheckpointingGivesTheSameGradients) {
  auto [in, tg] = batch(5);
  std::map<std::string, torch::Tensor> grads[2];
  double loss[2];
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    auto model = tiny(6);
    model->train();
    model->model->checkpoint_layers = ckpt == 1;
    auto l = rho::model_token_losses(model, in, tg).mean();
    l.backward();
    loss[ckpt] = l.item<double>();
    for (auto& p : model->named_parameters()) grads[ckpt][p.key()] = p.value().grad().clone();
  }
  EXPECT_EQ(loss[0], loss[1]);
  for (auto& [name, g] : grads[0]) EXPECT_LT((grads[1][name] - g).abs().max().item<double>(), 1e-6) << name;
}

// The MLP's SwiGLU keeps gate and up for backward and recomputes silu(gate) there. Its gradients
// are the plain expression's, bit for bit, in fp32 and under bf16 autocast.
TEST(Compute, SwiGLUGradientsEqualThePlainExpressionsBitForBit) {
  auto c = rho::preset("debug");
  for (bool bf16 : {false, true}) {
    torch::manual_seed(3);
    rho::LlamaMLP mlp(c);
    auto x = torch::randn({2, 5, c.hidden_size});
    auto g = torch::randn({2, 5, c.hidden_size});
    auto grads = [&](bool plain) {
      auto xi = x.clone().requires_grad_(true);
      mlp->zero_grad();
      torch::Tensor y;
      {
        rho::compat::AutocastScope autocast(torch::kCPU, bf16);
        y = plain ? mlp->down_proj(torch::silu(mlp->gate_proj(xi)) * mlp->up_proj(xi)) : mlp->forward(xi);
      }
      y.backward(g);
      std::vector<torch::Tensor> out{y.detach(), xi.grad()};
      for (auto& p : mlp->parameters()) out.push_back(p.grad().clone());
      return out;
    };
    const auto fused = grads(false), plain = grads(true);
    ASSERT_EQ(fused.size(), plain.size());
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(torch::equal(fused[i], plain[i])) << "tensor " << i << " bf16 " << bf16;
  }
}

}  // namespace
