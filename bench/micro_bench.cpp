// Google Benchmark timings of the parts a training step is made of, so later changes can be
// compared: the LM head + loss (fused vs plain, by kept fraction and chunk size), token selection
// (k-th value search vs a sort and vs topk), and whole train steps (CLM / SLM, fused / plain).
// Not run by ctest. Build and run:
//   ninja -C build rho_microbench && build/rho_microbench --benchmark_filter=Head
// Dimension legend: N tokens (B * T), C hidden size, V vocabulary.
#include <benchmark/benchmark.h>

#include "common/runtime.h"
#include "model/config.h"
#include "model/fused_head.h"
#include "selection/objective.h"
#include "selection/select.h"
#include "train/trainer.h"

namespace {

// The demo preset's head: N = 8 x 256 tokens, C = 320, V = 4096.
constexpr int64_t kN = 2048, kC = 320, kV = 4096;

// Forward and backward of the head at a kept fraction (args: fused 0/1, kept %, chunk tokens).
void BM_Head(benchmark::State& state) {
  const bool fused = state.range(0);
  const double kept = double(state.range(1)) / 100.0;
  torch::manual_seed(1);
  auto h0 = torch::randn({kN, kC}), w0 = torch::randn({kV, kC}) * 0.02;
  auto targets = torch::randint(kV, {kN}, torch::kLong);
  auto g = (torch::rand({kN}) < kept).to(torch::kFloat) / double(kN);  // SLM-like loss weights (N)
  for (auto _ : state) {
    auto h = h0.detach().requires_grad_(true), w = w0.detach().requires_grad_(true);
    torch::Tensor loss;
    if (fused) {
      loss = rho::fused_head_loss(h, w, targets, state.range(2));
    } else {
      loss = torch::nn::functional::cross_entropy(torch::mm(h, w.t()), targets,
                                                  torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    }
    (loss * g).sum().backward();
    benchmark::DoNotOptimize(h.grad().data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kN);
}
BENCHMARK(BM_Head)
    ->ArgNames({"fused", "kept%", "chunk"})
    ->Args({0, 100, 0})->Args({1, 100, 0})
    ->Args({0, 60, 0})->Args({1, 60, 0})
    ->Args({1, 60, 64})->Args({1, 60, 128})->Args({1, 60, 512})->Args({1, 60, 2048})
    ->Args({1, 10, 0})
    ->Unit(benchmark::kMillisecond);

// Selection of the top k = 60% of n scores in one row (scope batch): rho's k-th value search
// (args: method 0) against torch::topk (1) and a full sort (2).
void BM_Select(benchmark::State& state) {
  const int64_t n = state.range(1), k = rho::selected_count(n, 0.6);
  torch::manual_seed(2);
  auto scores = torch::randn({1, n});
  for (auto _ : state) {
    torch::Tensor mask;
    switch (state.range(0)) {
      case 0: mask = rho::select_top_k(scores, k).mask; break;
      case 1: mask = torch::zeros_like(scores, torch::kBool).scatter_(1, std::get<1>(scores.topk(k, 1)), true); break;
      default: {
        auto order = std::get<1>(scores.sort(1, /*descending=*/true)).slice(1, 0, k);
        mask = torch::zeros_like(scores, torch::kBool).scatter_(1, order, true);
      }
    }
    benchmark::DoNotOptimize(mask.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Select)
    ->ArgNames({"method", "n"})
    ->ArgsProduct({{0, 1, 2}, {2048, 16384, 131072}})
    ->Unit(benchmark::kMicrosecond);

// The SLM objective's whole selection (scores, top-k, weights, statistics) for one micro-batch
// of 8 x 256 tokens, scope batch, score = current loss (no reference lookup).
void BM_SlmWeights(benchmark::State& state) {
  rho::SelectionOptions so;
  so.score = rho::ScoreFunction::CurrentLoss;
  rho::SlmObjective slm(so, nullptr, 1);
  rho::Batch b;
  auto losses = torch::rand({8, 256}) * 5;
  for (auto _ : state) {
    rho::SelectionStats stats;
    auto w = slm.weights({losses}, {&b}, 0, 0, 1, stats);
    benchmark::DoNotOptimize(w[0].data_ptr());
  }
}
BENCHMARK(BM_SlmWeights)->Unit(benchmark::kMicrosecond);

// One optimizer step of the demo-s preset on B = 8 x T = 256 random tokens (args: slm 0/1,
// fused 0/1). SLM uses offline-like scores: current loss, ratio 0.6.
void BM_TrainStep(benchmark::State& state) {
  const bool slm_on = state.range(0), fused = state.range(1);
  torch::manual_seed(3);
  auto c = rho::preset("demo-s");
  rho::LlamaForCausalLM model(c);
  rho::OptimOptions o;
  auto opt = rho::make_optimizer(model, o);
  rho::Batch b;
  auto ids = torch::randint(c.vocab_size, {8, 257}, torch::kLong);
  b.inputs = ids.slice(1, 0, 256).contiguous();
  b.targets = ids.slice(1, 1, 257).contiguous();
  rho::SelectionOptions so;
  so.score = rho::ScoreFunction::CurrentLoss;
  rho::SlmObjective slm(so, nullptr, 1);
  rho::HeadOptions head;
  head.fused = fused;
  int64_t step = 0;
  for (auto _ : state) rho::train_step(model, *opt, {b}, o.lr, o.grad_clip, {slm_on ? &slm : nullptr, step++, head});
  state.SetItemsProcessed(state.iterations() * 8 * 256);
}
BENCHMARK(BM_TrainStep)
    ->ArgNames({"slm", "fused"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(3.0);

}  // namespace

int main(int argc, char** argv) {
  rho::tune_allocator();  // as the rho binary does, so steps are timed under the same heap settings
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
