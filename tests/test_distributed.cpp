// Data parallelism on c10d Gloo, with ranks as threads of this process (an in-process store):
// bucketed all-reduce sums exactly; the global top-k% over W ranks keeps exactly the tokens one
// process keeps over the same global batch (ties included); and W ranks' summed gradients
// equal one process's for CLM and for SLM in every scope. The multi-process path (TCPStore,
// `rho launch`) is tested end to end by tests/cli/data_parallel.sh.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "data/loader.h"
#include "data/shard.h"
#include "dist/distributed.h"
#include "dist/grad_reducer.h"
#include "selection/objective.h"
#include "train/trainer.h"
#include "dist_util.h"
#include "test_util.h"
#include "tiny.h"

namespace {

constexpr int64_t kVocab = 53, kT = 10, kB = 2, kA = 2, kW = 2;
template <class F>
void on_ranks(F fn) {
  rho_test::on_ranks(fn, kW);
}

TEST(Distributed, BucketedAllReduceSumsEveryTensor) {
  RHO_NEED_GLOO();
  std::vector<std::vector<torch::Tensor>> per_rank(kW);
  for (int r = 0; r < kW; ++r) {
    torch::manual_seed(100 + r);
    per_rank[size_t(r)] = {torch::randn({7, 5}), torch::randn({3}), torch::randn({4, 4}, torch::kDouble),
                           torch::randn({129})};
  }
  std::vector<torch::Tensor> expected;
  for (size_t i = 0; i < per_rank[0].size(); ++i) expected.push_back(per_rank[0][i] + per_rank[1][i]);
  on_ranks([&](int r, rho::Distributed& d) {
    d.all_reduce_sum(per_rank[size_t(r)], /*bucket_bytes=*/64);  // many buckets, split mid-tensor
  });
  for (int r = 0; r < kW; ++r)
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_TRUE(torch::allclose(per_rank[size_t(r)][i], expected[i], 0, 1e-6)) << "rank " << r << " tensor " << i;
}

TEST(Distributed, AllGatherStacksRanksInOrder) {
  RHO_NEED_GLOO();
  std::vector<torch::Tensor> got(kW);
  on_ranks([&](int r, rho::Distributed& d) { got[size_t(r)] = d.all_gather(torch::full({3}, float(r + 1))); });
  for (int r = 0; r < kW; ++r)
    EXPECT_TRUE(torch::equal(got[size_t(r)], torch::tensor({1.f, 1.f, 1.f, 2.f, 2.f, 2.f}).view({2, 3})));
}

struct DpData {
  rho_test::TempDir tmp;
  std::shared_ptr<const rho::PackedDataset> data;
  DpData() {
    std::mt19937 rng(5);
    std::vector<int32_t> toks;
    for (int i = 0; i < 4000; ++i) toks.push_back(int32_t(rng() % kVocab));
    const std::string path = rho_test::write_shard(tmp.path + "/d.bin", toks, kVocab, 11);
    data = std::make_shared<const rho::PackedDataset>(std::vector<std::string>{path}, kT);
  }
  std::vector<rho::Batch> batches(int rank, int world, int64_t n) const {
    rho::DataLoader loader(data, kB, /*seed=*/3, rank, world);
    std::vector<rho::Batch> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(loader.next());
    return out;
  }
};

rho::LlamaForCausalLM model_copy() {
  return rho_test::tiny_model(kVocab, 21);
}

std::unique_ptr<rho::SlmObjective> objective(rho::SelectionScope scope, rho::ScoreFunction score,
                                             rho::TokenWeighting weighting = rho::TokenWeighting::TopK) {
  rho::SelectionOptions o;
  o.scope = scope;
  o.score = score;
  o.weighting = weighting;
  if (weighting == rho::TokenWeighting::TopK) o.ratio = 0.35;
  else o.temperature = 0.5;
  o.stream_window = 1 << 20;  // the stream scope: every score so far
  return std::make_unique<rho::SlmObjective>(o, std::make_unique<rho_test::PositionReference>(6, 1.f), 1);  // 6 levels: ties
}

TEST(Distributed, GlobalSelectionKeepsWhatOneProcessKeeps) {
  RHO_NEED_GLOO();
  DpData s;
  auto model = model_copy();
  torch::NoGradGuard ng;
  for (auto score : {rho::ScoreFunction::ExcessLoss, rho::ScoreFunction::ReferenceLoss}) {
    // One process: A * W micro-batches of the same global batch.
    auto all = s.batches(0, 1, kA * kW);
    std::vector<torch::Tensor> losses;
    std::vector<const rho::Batch*> ptrs;
    for (auto& b : all) {
      losses.push_back(rho::per_token_loss(model->forward(b.inputs), b.targets));
      ptrs.push_back(&b);
    }
    auto single = objective(rho::SelectionScope::Batch, score)->select(losses, ptrs, 0, 0);
    int64_t kept = 0;
    for (auto& m : single) kept += m.sum().item<int64_t>();
    EXPECT_EQ(kept, rho::selected_count(kA * kW * kB * kT, 0.35));

    std::vector<std::vector<torch::Tensor>> masks(kW);
    on_ranks([&](int r, rho::Distributed& d) {
      auto mine = s.batches(r, kW, kA);
      std::vector<torch::Tensor> l;
      std::vector<const rho::Batch*> p;
      for (auto& b : mine) {
        l.push_back(rho::per_token_loss(model->forward(b.inputs), b.targets));
        p.push_back(&b);
      }
      auto obj = objective(rho::SelectionScope::Batch, score);
      obj->set_distributed(&d);
      masks[size_t(r)] = obj->select(l, p, 0, 0);
    });
    for (int r = 0; r < kW; ++r)
      for (int64_t a = 0; a < kA; ++a)
        EXPECT_TRUE(torch::equal(masks[size_t(r)][size_t(a)], single[size_t(a * kW + r)]))
            << "score " << int(score) << " rank " << r << " micro-batch " << a;
  }
}

// Summed DP gradients equal one process's gradients over the same global batch, summed after
// backward or (overlapped) by a GradientReducer while backward runs.
void expect_dp_gradients_equal(bool slm, rho::SelectionScope scope, bool overlapped = false,
                               rho::TokenWeighting weighting = rho::TokenWeighting::TopK) {
  DpData s;
  auto single_model = model_copy();
  auto make = [&] { return slm ? objective(scope, rho::ScoreFunction::ExcessLoss, weighting) : nullptr; };
  std::unique_ptr<rho::SlmObjective> single_obj = make();
  auto st = rho::accumulate_gradients(single_model, s.batches(0, 1, kA * kW), {single_obj.get(), 0});
  std::vector<rho::LlamaForCausalLM> models;
  for (int r = 0; r < kW; ++r) models.push_back(model_copy());
  std::vector<rho::StepStats> stats(kW);
  on_ranks([&](int r, rho::Distributed& d) {
    auto obj = make();
    if (obj) obj->set_distributed(&d);
    if (overlapped) {
      // Small buckets, so several all-reduces start while backward still runs.
      rho::GradientReducer reducer(d, models[size_t(r)]->parameters(), /*bucket_bytes=*/16 << 10);
      rho::StepSettings st{obj.get(), 0};
      st.reducer = &reducer;
      stats[size_t(r)] = rho::accumulate_gradients(models[size_t(r)], s.batches(r, kW, kA), st, kW);
      reducer.finish();
      return;
    }
    stats[size_t(r)] = rho::accumulate_gradients(models[size_t(r)], s.batches(r, kW, kA), {obj.get(), 0}, kW);
    std::vector<torch::Tensor> grads;
    for (auto& p : models[size_t(r)]->parameters()) grads.push_back(p.grad());
    d.all_reduce_sum(grads);
  });
  double worst = 0;
  for (int r = 0; r < kW; ++r)
    for (auto& p : single_model->named_parameters()) {
      auto other = models[size_t(r)]->named_parameters()[p.key()].grad();
      worst = std::max(worst, (p.value().grad() - other).abs().max().item<double>());
    }
  EXPECT_LT(worst, 1e-6) << (slm ? "slm scope " + rho::to_string(scope) : std::string("clm"))
                         << (overlapped ? ", overlapped" : "");
  if (slm) EXPECT_EQ(stats[0].selection.selected + stats[1].selection.selected, st.selection.selected);
}

TEST(Distributed, GradientsEqualOneProcessClm) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(false, rho::SelectionScope::Batch);
}
TEST(Distributed, GradientsEqualOneProcessSlmBatchScope) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(true, rho::SelectionScope::Batch);
}
TEST(Distributed, GradientsEqualOneProcessSlmMicroBatchScope) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(true, rho::SelectionScope::MicroBatch);
}
TEST(Distributed, GradientsEqualOneProcessSlmSequenceScope) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(true, rho::SelectionScope::Sequence);
}

// Softmax weighting's batch scope is one softmax over every rank's tokens.
TEST(Distributed, GradientsEqualOneProcessSoftmaxWeighting) {
  RHO_NEED_GLOO();
  for (auto scope : {rho::SelectionScope::Batch, rho::SelectionScope::MicroBatch, rho::SelectionScope::Sequence})
    expect_dp_gradients_equal(true, scope, false, rho::TokenWeighting::Softmax);
}

// The stream scope's window holds every rank's scores in the one-process order.
TEST(Distributed, GradientsEqualOneProcessStreamScope) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(true, rho::SelectionScope::Stream);
}

TEST(Distributed, OverlappedReductionEqualsOneProcessClm) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(false, rho::SelectionScope::Batch, true);
}
TEST(Distributed, OverlappedReductionEqualsOneProcessSlmBatchScope) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(true, rho::SelectionScope::Batch, true);
}
TEST(Distributed, OverlappedReductionEqualsOneProcessSlmMicroBatchScope) {
  RHO_NEED_GLOO();
  expect_dp_gradients_equal(true, rho::SelectionScope::MicroBatch, true);
}

TEST(Distributed, EnvironmentIsReadLikeTorchrun) {
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "2", 1);
  ::setenv("MASTER_PORT", "29555", 1);
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  auto e = rho::dist_env_from_environment();
  EXPECT_EQ(e.world, 4);
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.master_port, 29555);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  ::setenv("RANK", "4", 1);
  try {
    rho::dist_env_from_environment();
    ADD_FAILURE() << "RANK 4 of 4 accepted";
  } catch (const std::exception& ex) {
    EXPECT_NE(std::string(ex.what()).find("RANK='4' must be an integer in [0, 3]"), std::string::npos) << ex.what();
  }
  for (const char* k : {"WORLD_SIZE", "RANK", "MASTER_PORT", "MASTER_ADDR"}) ::unsetenv(k);
  EXPECT_EQ(rho::dist_env_from_environment().world, 1);
}

}  // namespace
