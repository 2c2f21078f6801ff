// The fused chunked LM head against the plain path (logits = h W^T, then cross_entropy): the same
// per-token loss and the same gradients of hidden states and of the output matrix, when every
// token, some tokens or no token carries a loss weight, for several chunk sizes.
// Tolerance: fp32, max |fused - plain| <= 1e-5 x max |plain| per tensor (both sides are fp32; the
// fused side sums the log-sum-exp and the matmuls in another order). All-zero references (no token
// selected) must be matched exactly.
#include <gtest/gtest.h>

#include "model/fused_head.h"
#include "selection/objective.h"
#include "train/trainer.h"
#include "measure/token_losses.h"

namespace {

constexpr double kRelTol = 1e-5;

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  const double peak = want.abs().max().item<double>();
  const double scale = peak > 0 ? peak : 1.0;
  return (got - want).abs().max().item<double>() / scale;
}

struct HeadGrads {
  torch::Tensor loss, grad_h, grad_w;
};

// Per-token losses of (h, w, targets) by `fused` or the plain path, then backward of sum(g * loss).
// `most`: the kept-row bound the head is told after its forward (-2: none given).
HeadGrads run_head(bool fused, const torch::Tensor& h0, const torch::Tensor& w0, const torch::Tensor& targets,
                   const torch::Tensor& g, int64_t chunk, int64_t most = -2) {
  auto h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  torch::Tensor loss;
  if (fused) {
    auto kept = most == -2 ? c10::intrusive_ptr<rho::KeptRows>() : c10::make_intrusive<rho::KeptRows>();
    loss = rho::fused_head_loss(h, w, targets, chunk, false, kept);
    if (kept) kept->most = most;  // told between forward and backward, as a training step does
  } else {
    loss = torch::nn::functional::cross_entropy(torch::mm(h, w.t()), targets,
                                                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  }
  (loss * g).sum().backward();
  return {loss.detach(), h.grad(), w.grad()};
}

TEST(FusedHead, LossAndGradientsEqualThePlainPath) {
  torch::manual_seed(3);
  const int64_t N = 37, C = 16, V = 53;
  auto h = torch::randn({N, C}), w = torch::randn({V, C}) * 0.3;
  auto targets = torch::randint(V, {N}, torch::kLong);
  auto some = (torch::rand({N}) < 0.4).to(torch::kFloat) * torch::rand({N});  // random weights, ~60% zero
  ASSERT_GT(some.ne(0).sum().item<int64_t>(), 0);
  ASSERT_LT(some.ne(0).sum().item<int64_t>(), N);
  const std::vector<std::pair<const char*, torch::Tensor>> cases{
      {"all", torch::full({N}, 1.0 / N)}, {"some", some}, {"none", torch::zeros({N})}};
  for (auto& [name, g] : cases) {
    auto plain = run_head(false, h, w, targets, g, 0);
    for (int64_t chunk : {int64_t(0), int64_t(1), int64_t(5), N, 2 * N}) {
      auto fused = run_head(true, h, w, targets, g, chunk);
      EXPECT_LT(rel_err(fused.loss, plain.loss), kRelTol) << name << " chunk " << chunk;
      EXPECT_LT(rel_err(fused.grad_h, plain.grad_h), kRelTol) << name << " chunk " << chunk;
      EXPECT_LT(rel_err(fused.grad_w, plain.grad_w), kRelTol) << name << " chunk " << chunk;
      // Tokens without weight get exactly no gradient (they are skipped, not multiplied by 0).
      auto dropped = g.eq(0).nonzero().squeeze(1);
      if (dropped.numel() > 0) EXPECT_EQ(fused.grad_h.index_select(0, dropped).abs().max().item<float>(), 0.0f);
    }
  }
}

// Every parameter's gradient of a small model, fused head vs plain, tied and untied embeddings.
TEST(FusedHead, ModelGradientsEqualThePlainPath) {
  for (bool tied : {false, true}) {
    auto c = rho::preset("debug");
    c.vocab_size = 97;
    c.tie_word_embeddings = tied;
    torch::manual_seed(5);
    auto ids = torch::randint(c.vocab_size, {2, 17}, torch::kLong);
    auto targets = torch::randint(c.vocab_size, {2, 17}, torch::kLong);
    auto weights = (torch::rand({2, 17}) < 0.5).to(torch::kFloat) / 17.0;
    std::map<std::string, torch::Tensor> grads[2];
    torch::Tensor losses[2];
    for (int fused = 0; fused < 2; ++fused) {
      torch::manual_seed(7);
      rho::LlamaForCausalLM model(c);
      rho::HeadOptions head;
      head.fused = fused;
      head.chunk_tokens = 6;
      losses[fused] = rho::model_token_losses(model, ids, targets, head);
      (losses[fused] * weights).sum().backward();
      for (auto& p : model->named_parameters()) grads[fused][p.key()] = p.value().grad().clone();
    }
    EXPECT_LT(rel_err(losses[1].detach(), losses[0].detach()), kRelTol) << "tied " << tied;
    for (auto& [k, g] : grads[0]) EXPECT_LT(rel_err(grads[1].at(k), g), kRelTol) << k << " tied " << tied;
  }
}

// The trainer's SLM step through the fused head equals the plain head's (same selection, same
// gradients), so the default path is tested against the reference one end to end.
// Told how many rows at most are kept, backward gathers them by a top-k of that size (no search):
// the same gradients for a bound equal to the count, above it, of every row, or unknown (-1).
// A bound below the count would drop gradients: refused (the check runs on the CPU).
TEST(FusedHead, ToldTheKeptRowsItGathersThemWithoutASearch) {
  torch::manual_seed(4);
  const int64_t N = 41, C = 16, V = 29;
  auto h = torch::randn({N, C}), w = torch::randn({V, C}) * 0.3;
  auto targets = torch::randint(V, {N}, torch::kLong);
  auto g = (torch::rand({N}) < 0.5).to(torch::kFloat) * (torch::rand({N}) + 0.1);
  const int64_t count = g.ne(0).sum().item<int64_t>();
  ASSERT_GT(count, 3);
  ASSERT_LT(count, N);
  auto plain = run_head(false, h, w, targets, g, 0);
  for (int64_t most : {count, count + 3, N, 2 * N, int64_t(-1)}) {
    auto told = run_head(true, h, w, targets, g, 7, most);
    EXPECT_LT(rel_err(told.grad_h, plain.grad_h), kRelTol) << "bound " << most;
    EXPECT_LT(rel_err(told.grad_w, plain.grad_w), kRelTol) << "bound " << most;
  }
  // An exact bound gathers the searched rows in the searched order: the same gradients bit for bit.
  auto searched = run_head(true, h, w, targets, g, 7), exact = run_head(true, h, w, targets, g, 7, count);
  EXPECT_TRUE(torch::equal(exact.grad_w, searched.grad_w));
  EXPECT_TRUE(torch::equal(exact.grad_h, searched.grad_h));
  try {
    run_head(true, h, w, targets, g, 7, count - 1);
    ADD_FAILURE() << "a bound below the kept count was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("the fused head was told at most " + std::to_string(count - 1) + " kept rows, but " +
                                         std::to_string(count) + " have a gradient"),
              std::string::npos)
        << e.what();
  }
}

// The SLM step tells each head its bound (SlmObjective::kept_at_most); the CPU check above would
// throw for a bound short of the kept count. Every scope and both weightings, against the plain
// head (which is told nothing).
TEST(FusedHead, SlmStepEqualsThePlainPath) {
  auto c = rho::preset("debug");
  c.vocab_size = 61;
  torch::manual_seed(11);
  rho::Batch b;
  auto ids = torch::randint(c.vocab_size, {3, 13}, torch::kLong);
  b.inputs = ids.slice(1, 0, 12).contiguous();
  b.targets = ids.slice(1, 1, 13).contiguous();
  rho::Batch b2;
  b2.inputs = b.targets.flip(1).contiguous();
  b2.targets = b.inputs.flip(1).contiguous();
  using Scope = rho::SelectionScope;
  for (auto [scope, weighting] : {std::pair{Scope::Sequence, rho::TokenWeighting::TopK},
                                  std::pair{Scope::MicroBatch, rho::TokenWeighting::TopK},
                                  std::pair{Scope::Batch, rho::TokenWeighting::TopK},
                                  std::pair{Scope::Stream, rho::TokenWeighting::TopK},
                                  std::pair{Scope::MicroBatch, rho::TokenWeighting::Softmax}}) {
    rho::SelectionOptions so;
    so.ratio = 0.3;
    so.score = rho::ScoreFunction::CurrentLoss;
    so.scope = scope;
    so.weighting = weighting;
    so.stream_window = 1000;
    std::map<std::string, torch::Tensor> grads[2];
    rho::StepStats stats[2];
    for (int fused = 0; fused < 2; ++fused) {
      torch::manual_seed(2);
      rho::LlamaForCausalLM model(c);
      rho::SlmObjective slm(so, nullptr, 1);
      rho::HeadOptions head;
      head.fused = fused;
      stats[fused] = rho::accumulate_gradients(model, {b, b2}, {&slm, 0, head});
      for (auto& p : model->named_parameters()) grads[fused][p.key()] = p.value().grad().clone();
    }
    const int s = int(scope), wt = int(weighting);
    EXPECT_EQ(stats[1].selection.selected, stats[0].selection.selected) << s << " " << wt;
    EXPECT_NEAR(stats[1].loss, stats[0].loss, 1e-5) << s << " " << wt;
    for (auto& [k, g] : grads[0]) EXPECT_LT(rel_err(grads[1].at(k), g), kRelTol) << k << " scope " << s << " " << wt;
  }
}

}  // namespace
