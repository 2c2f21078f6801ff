// Selective Language Modeling: selection exactness, k = 1 equals CLM, unselected tokens carry no
// gradient, offline scores select what an online reference selects, score-file errors.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny.h"
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "common/error.h"
#include "common/fileio.h"
#include "data/shard.h"
#include "model/io.h"
#include "scoring/score_set.h"
#include "scoring/scorer.h"
#include "selection/objective.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace {

using rho_test::TempDir;

constexpr int64_t kVocab = 61, kT = 12, kB = 3;

// n tokens of the test shards' tokenizer (fingerprint 7): a repeating ramp with random tokens
// mixed in.
std::string write_shard(const std::string& path, uint64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> toks;
  for (uint64_t i = 0; i < n; ++i) toks.push_back(rng() % 3 ? int32_t(3 + i % 20) : int32_t(rng() % kVocab));
  return rho_test::write_shard(path, toks, kVocab, 7);
}

// A random model over the test shards' tokenizer (fingerprint 7), recorded as such.
rho::LlamaForCausalLM tiny_model(uint64_t seed) {
  return rho_test::tiny_model(kVocab, seed, {7, kVocab, "test shards"});
}

// Saves a random reference model under `dir`/ref and scores `shards` with it into `dir`/scores.
rho::ScoreOptions score_with_reference(const std::string& dir, const std::vector<std::string>& shards) {
  auto ref = tiny_model(9);
  rho::save_model(dir + "/ref", ref);
  rho::ScoreOptions so;
  so.model = dir + "/ref";
  so.data = shards;
  so.out_dir = dir + "/scores";
  so.seq_len = kT;
  rho::score_shards(so);
  return so;
}

// Brute force: indices of the k largest of `v`, ties to the lower index.
std::vector<bool> brute_top_k(const std::vector<float>& v, int64_t k) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return v[a] > v[b]; });
  std::vector<bool> keep(v.size(), false);
  for (int64_t i = 0; i < k; ++i) keep[idx[i]] = true;
  return keep;
}

std::vector<float> to_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat).contiguous().reshape({-1});
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Reference losses from a fixed table, so tests control scores exactly.
class TableReference : public rho::Reference {
 public:
  explicit TableReference(std::vector<torch::Tensor> t) : table_(std::move(t)) {}
  torch::Tensor losses(const rho::Batch& b) override { return table_.at(size_t(b.windows[0].start)); }
 private:
  std::vector<torch::Tensor> table_;
};

TEST(Select, RoundingAndBounds) {
  EXPECT_EQ(rho::selected_count(10, 1.0), 10);
  EXPECT_EQ(rho::selected_count(10, 0.6), 6);
  EXPECT_EQ(rho::selected_count(10, 0.61), 7);  // ceil
  EXPECT_EQ(rho::selected_count(10, 1e-6), 1);  // never zero
  EXPECT_EQ(rho::selected_count(3, 0.7), 3);    // ceil(2.1)
}

TEST(Select, TopKMatchesBruteForceWithTies) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t rows = 1 + trial % 4, n = 5 + trial * 3;
    // Few distinct values: many ties.
    auto scores = torch::randint(0, 1 + trial % 6, {rows, n}, torch::kFloat);
    for (int64_t k : {int64_t(1), n / 3 + 1, n}) {
      auto sel = rho::select_top_k(scores, k);
      for (int64_t r = 0; r < rows; ++r) {
        auto expect = brute_top_k(to_vec(scores[r]), k);
        auto got = to_vec(sel.mask[r]);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i] != 0, bool(expect[i])) << "trial " << trial << " k " << k;
      }
    }
  }
}

struct SlmSetup {
  std::vector<rho::Batch> micro;
  std::vector<torch::Tensor> ref;  // (B, T) per micro-batch, in start order
};

SlmSetup make_batches(int64_t A, uint32_t seed) {
  torch::manual_seed(seed);
  SlmSetup s;
  for (int64_t a = 0; a < A; ++a) {
    rho::Batch b;
    auto ids = torch::randint(kVocab, {kB, kT + 1}, torch::kLong);
    b.inputs = ids.slice(1, 0, kT).contiguous();
    b.targets = ids.slice(1, 1, kT + 1).contiguous();
    for (int64_t r = 0; r < kB; ++r) b.windows.push_back({0, uint64_t(a)});  // start = micro index: table key
    s.micro.push_back(b);
    s.ref.push_back(torch::rand({kB, kT}) * 4);
  }
  return s;
}

std::unique_ptr<rho::SlmObjective> objective(const SlmSetup& s, rho::SelectionScope scope, double ratio) {
  rho::SelectionOptions o;
  o.ratio = ratio;
  o.scope = scope;
  return std::make_unique<rho::SlmObjective>(o, std::make_unique<TableReference>(s.ref), 1);
}

TEST(Slm, SelectionIsTopKOfExcessLossInEveryScope) {
  auto s = make_batches(3, 11);
  auto model = tiny_model(3);
  std::vector<torch::Tensor> losses;
  std::vector<const rho::Batch*> batches;
  for (auto& b : s.micro) {
    losses.push_back(rho::per_token_loss(model->forward(b.inputs), b.targets).detach());
    batches.push_back(&b);
  }
  const double ratio = 0.4;
  for (auto scope : {rho::SelectionScope::Sequence, rho::SelectionScope::MicroBatch, rho::SelectionScope::Batch}) {
    auto obj = objective(s, scope, ratio);
    auto masks = obj->select(losses, batches, 0, 0);
    ASSERT_EQ(masks.size(), 3u);
    // Expected, by sorting excess losses by hand.
    std::vector<std::vector<float>> groups;  // each group: the candidates one top-k runs over
    for (size_t i = 0; i < 3; ++i) {
      auto excess = to_vec(losses[i] - s.ref[i]);
      if (scope == rho::SelectionScope::Sequence)
        for (int64_t r = 0; r < kB; ++r) groups.emplace_back(excess.begin() + r * kT, excess.begin() + (r + 1) * kT);
      else if (scope == rho::SelectionScope::MicroBatch) groups.push_back(excess);
      else {
        if (groups.empty()) groups.emplace_back();
        groups[0].insert(groups[0].end(), excess.begin(), excess.end());
      }
    }
    std::vector<bool> expect;
    for (auto& g : groups) {
      auto keep = brute_top_k(g, rho::selected_count(int64_t(g.size()), ratio));
      expect.insert(expect.end(), keep.begin(), keep.end());
    }
    std::vector<float> got;
    for (auto& m : masks) {
      auto v = to_vec(m);
      got.insert(got.end(), v.begin(), v.end());
    }
    ASSERT_EQ(got.size(), expect.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i] != 0, bool(expect[i])) << rho::to_string(scope) << " " << i;
  }
}

std::map<std::string, torch::Tensor> grads(rho::LlamaForCausalLM& model) {
  std::map<std::string, torch::Tensor> g;
  for (auto& p : model->named_parameters()) g[p.key()] = p.value().grad().clone();
  return g;
}

double max_grad_diff(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  double worst = 0;
  for (auto& [k, t] : a) worst = std::max(worst, (t - b.at(k)).abs().max().item<double>());
  return worst;
}

TEST(Slm, RatioOneEqualsClmInEveryScope) {
  auto s = make_batches(2, 12);
  auto clm_model = tiny_model(4);
  auto clm = rho::accumulate_gradients(clm_model, s.micro);
  auto clm_grads = grads(clm_model);
  for (auto scope : {rho::SelectionScope::Sequence, rho::SelectionScope::MicroBatch, rho::SelectionScope::Batch}) {
    auto model = tiny_model(4);
    auto obj = objective(s, scope, 1.0);
    auto slm = rho::accumulate_gradients(model, s.micro, {obj.get(), 0});
    EXPECT_NEAR(slm.loss, clm.loss, 1e-6) << rho::to_string(scope);
    EXPECT_EQ(slm.tokens_trained, clm.tokens_trained);
    EXPECT_EQ(slm.selection.selected, 2 * kB * kT);
    // The SLM loss (selected mean) equals the CLM loss when all tokens are kept.
    EXPECT_NEAR(slm.selection.loss_selected_sum / slm.selection.selected, clm.loss, 1e-6);
    const double diff = max_grad_diff(grads(model), clm_grads);
    EXPECT_LT(diff, 1e-7) << rho::to_string(scope);
  }
}

TEST(Slm, UnselectedTokensContributeNoGradient) {
  auto s = make_batches(2, 13);
  for (auto scope : {rho::SelectionScope::MicroBatch, rho::SelectionScope::Batch}) {
    auto model = tiny_model(5);
    auto obj = objective(s, scope, 0.5);
    auto stats = rho::accumulate_gradients(model, s.micro, {obj.get(), 0});
    auto slm_grads = grads(model);
    EXPECT_EQ(stats.tokens_trained, rho::selected_count(2 * kB * kT, 0.5));

    // Reference: a plain mean loss over the selected positions alone, taken by index.
    auto ref_model = tiny_model(5);
    std::vector<torch::Tensor> losses;
    std::vector<const rho::Batch*> batches;
    for (auto& b : s.micro) {
      losses.push_back(rho::per_token_loss(ref_model->forward(b.inputs), b.targets));
      batches.push_back(&b);
    }
    std::vector<torch::Tensor> detached;
    for (auto& l : losses) detached.push_back(l.detach());
    auto masks = objective(s, scope, 0.5)->select(detached, batches, 0, 0);
    std::vector<torch::Tensor> kept;
    for (size_t i = 0; i < losses.size(); ++i) kept.push_back(losses[i].reshape({-1}).index({masks[i].reshape({-1}).nonzero().squeeze(1)}));
    if (scope == rho::SelectionScope::Batch) {
      torch::cat(kept).mean().backward();
    } else {
      ((kept[0].mean() + kept[1].mean()) / 2).backward();
    }
    EXPECT_LT(max_grad_diff(slm_grads, grads(ref_model)), 1e-7) << rho::to_string(scope);
  }
}

TEST(Slm, OfflineScoresSelectWhatAnOnlineReferenceSelects) {
  TempDir tmp;
  write_shard(tmp.path + "/data/a.bin", 2000, 1);
  write_shard(tmp.path + "/data/b.bin", 1500, 2);
  auto ref = tiny_model(9);
  rho::save_model(tmp.path + "/ref", ref);
  rho::ScoreOptions so;
  so.model = tmp.path + "/ref";
  so.data = {tmp.path + "/data"};
  so.out_dir = tmp.path + "/scores";
  so.seq_len = kT;
  so.batch = 4;
  auto st = rho::score_shards(so);
  EXPECT_EQ(st.shards_scored, 2);
  EXPECT_EQ(rho::score_shards(so).shards_skipped, 2);  // resumable: finished shards are not redone

  auto data = std::make_shared<const rho::PackedDataset>(rho::list_shards(tmp.path + "/data"), kT);
  rho::SelectionOptions opts;
  opts.ratio = 0.6;
  rho::SlmObjective offline(opts, rho::offline_reference(*data, so.out_dir), 1);
  rho::SlmObjective online(opts, rho::online_reference(rho::load_model(so.model), rho::MeasureOptions{}), 1);
  auto model = tiny_model(10);
  rho::DataLoader loader(data, /*micro_batch=*/5, /*seed=*/3);
  int64_t compared = 0;
  for (int step = 0; step < 6; ++step) {
    auto b = loader.next();
    auto losses = rho::per_token_loss(model->forward(b.inputs), b.targets).detach();
    auto m_off = offline.select({losses}, {&b}, step, 0);
    auto m_on = online.select({losses}, {&b}, step, 0);
    EXPECT_TRUE(torch::equal(m_off[0], m_on[0])) << "step " << step;
    compared += m_off[0].numel();
  }
  EXPECT_EQ(compared, 6 * 5 * kT);
}

// `rho score` runs measure/token_losses.h (the fused head): its scores are the losses the plain
// full-logits path gives, at every targeted position, and NaN elsewhere.
TEST(Slm, ScoresAreThePlainFullLogitsLosses) {
  TempDir tmp;
  auto a = write_shard(tmp.path + "/data/a.bin", 400, 1);
  auto so = score_with_reference(tmp.path, {a});
  auto ref = rho::load_model(so.model);
  const auto scores = rho::ScoreFile::open(rho::score_path_for(so.out_dir, a))->read_all();
  rho::PackedDataset data({a}, kT);
  ASSERT_EQ(scores.size(), 400u);
  std::vector<int64_t> inputs(kT), targets(kT);
  std::vector<bool> targeted(400, false);
  torch::NoGradGuard no_grad;
  for (int64_t w = 0; w < data.num_windows(); ++w) {
    const auto win = data.window_in_order(w);
    data.read_window(win, inputs.data(), targets.data());
    auto full = rho::per_token_loss(ref->forward(torch::tensor(inputs).view({1, kT})), torch::tensor(targets).view({1, kT}));
    for (int64_t t = 0; t < kT; ++t) {
      const size_t p = size_t(win.start) + 1 + size_t(t);
      EXPECT_NEAR(scores[p], full[0][t].item<float>(), 1e-5) << "position " << p;
      targeted[p] = true;
    }
  }
  for (size_t p = 0; p < scores.size(); ++p)
    if (!targeted[p]) EXPECT_TRUE(std::isnan(scores[p])) << "position " << p;
  EXPECT_FALSE(targeted[0]);
}

TEST(Slm, ScoreFileErrorsNameTheFileAndPosition) {
  TempDir tmp;
  auto a = write_shard(tmp.path + "/data/a.bin", 400, 1);
  auto so = score_with_reference(tmp.path, {a});
  const std::string scores_dir = so.out_dir, score_path = rho::score_path_for(scores_dir, a);
  // Header problems surface when the score files are opened; a bad loss when a batch draws
  // its window (start-up reads no scores).
  auto expect_error = [&](const std::string& needle) {
    rho::PackedDataset data({a}, kT);
    try {
      auto ref = rho::offline_reference(data, scores_dir);
      rho::Batch b;
      for (int64_t w = 0; w < data.num_windows(); ++w) b.windows.push_back(data.window_in_order(w));
      ref->losses(b);
      FAIL() << "expected an error containing " << needle;
    } catch (const rho::UserError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(score_path), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    }
  };
  const auto file = rho::ScoreFile::open(score_path);
  const rho::ScoreHeader header = file->header();
  const std::vector<float> good = file->read_all();
  // NaN and negative losses at a targeted position.
  auto bad = good;
  bad[5] = std::nanf("");
  rho::write_score_file(score_path, header, bad.data());
  expect_error("position 5");
  bad = good;
  bad[7] = -0.5f;
  rho::write_score_file(score_path, header, bad.data());
  expect_error("position 7");
  // Truncated.
  rho::write_file_atomic(score_path, rho::read_file(score_path).substr(0, 100));
  expect_error("does not match");
  // Scores of another shard (same length, different tokens): fingerprint mismatch.
  auto other = write_shard(tmp.path + "/other/a.bin", 400, 99);
  so.data = {other};
  so.out_dir = tmp.path + "/scores_other";
  rho::score_shards(so);
  fs::copy_file(rho::score_path_for(so.out_dir, other), score_path, fs::copy_options::overwrite_existing);
  expect_error("fingerprint");
  // Wrong length: scores of a longer shard.
  auto longer = write_shard(tmp.path + "/long/a.bin", 500, 1);
  so.data = {longer};
  so.out_dir = tmp.path + "/scores_long";
  rho::score_shards(so);
  fs::copy_file(rho::score_path_for(so.out_dir, longer), score_path, fs::copy_options::overwrite_existing);
  expect_error("500 scores");
}

std::unique_ptr<rho::SlmObjective> softmax_objective(std::vector<torch::Tensor> ref, rho::SelectionScope scope,
                                                     double temperature) {
  rho::SelectionOptions o;
  o.scope = scope;
  o.weighting = rho::TokenWeighting::Softmax;
  o.temperature = temperature;
  return std::make_unique<rho::SlmObjective>(o, std::make_unique<TableReference>(std::move(ref)), 1);
}

// Uniform weights are CLM: with the reference's losses equal to the model's, every excess is 0,
// so each scope's softmax is 1/n and loss and gradients are CLM's.
TEST(SoftWeighting, EqualScoresEqualClmInEveryScope) {
  auto s = make_batches(2, 14);
  auto clm_model = tiny_model(6);
  auto clm = rho::accumulate_gradients(clm_model, s.micro);
  auto clm_grads = grads(clm_model);
  std::vector<torch::Tensor> own;  // the model's own per-token losses, as the reference's
  for (auto& b : s.micro) own.push_back(rho::per_token_loss(tiny_model(6)->forward(b.inputs), b.targets).detach());
  for (auto scope : {rho::SelectionScope::Sequence, rho::SelectionScope::MicroBatch, rho::SelectionScope::Batch}) {
    auto model = tiny_model(6);
    auto obj = softmax_objective(own, scope, 0.7);
    auto soft = rho::accumulate_gradients(model, s.micro, {obj.get(), 0});
    EXPECT_NEAR(soft.loss, clm.loss, 1e-6) << rho::to_string(scope);
    EXPECT_EQ(soft.tokens_trained, clm.tokens_trained) << rho::to_string(scope);
    EXPECT_LT(max_grad_diff(grads(model), clm_grads), 1e-7) << rho::to_string(scope);
  }
}

// A hand-computed case: one micro-batch of 2 x 3 tokens whose excess losses are logs, so the
// softmax at T = 1 is a ratio of small integers, and at T = 0.5 of their squares.
TEST(SoftWeighting, HandComputedWeightsPerScope) {
  const double l2 = std::log(2.0), l3 = std::log(3.0);
  auto losses = torch::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, torch::kFloat);
  // excess = losses - ref: row 0 (0, ln 2, ln 3), row 1 (ln 3, 0, ln 2)
  auto ref = losses - torch::tensor({{0.0, l2, l3}, {l3, 0.0, l2}}, torch::kFloat);
  rho::Batch b;
  b.windows = {{0, 0}, {0, 0}};  // table key 0
  const std::vector<const rho::Batch*> batches = {&b};
  auto weights = [&](rho::SelectionScope scope, double T, int64_t micro_per_step) {
    rho::SelectionStats stats;
    auto w = softmax_objective({ref}, scope, T)->weights({losses}, batches, 0, 0, micro_per_step, stats);
    EXPECT_EQ(stats.selected, 6);  // every token trains
    return to_vec(w[0]);
  };
  auto expect_near = [](const std::vector<float>& got, const std::vector<double>& want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << what << " " << i;
  };
  // Sequence: each row's softmax (1, 2, 3) / 6, halved (two rows) and halved again (two micro-batches).
  expect_near(weights(rho::SelectionScope::Sequence, 1.0, 2),
              {1 / 24.0, 2 / 24.0, 3 / 24.0, 3 / 24.0, 1 / 24.0, 2 / 24.0}, "sequence, T 1");
  // Micro-batch and batch: one softmax over all six, (1, 2, 3, 3, 1, 2) / 12.
  expect_near(weights(rho::SelectionScope::MicroBatch, 1.0, 1),
              {1 / 12.0, 2 / 12.0, 3 / 12.0, 3 / 12.0, 1 / 12.0, 2 / 12.0}, "micro-batch, T 1");
  expect_near(weights(rho::SelectionScope::Batch, 1.0, 1),
              {1 / 12.0, 2 / 12.0, 3 / 12.0, 3 / 12.0, 1 / 12.0, 2 / 12.0}, "batch, T 1");
  // T = 0.5 squares the ratios: (1, 4, 9, 9, 1, 4) / 28.
  expect_near(weights(rho::SelectionScope::Batch, 0.5, 1),
              {1 / 28.0, 4 / 28.0, 9 / 28.0, 9 / 28.0, 1 / 28.0, 4 / 28.0}, "batch, T 0.5");
}

TEST(Slm, TrainingRecordsSelectedTokenCounts) {
  TempDir tmp;
  auto a = write_shard(tmp.path + "/data/a.bin", 4000, 1);
  auto so = score_with_reference(tmp.path, {a});
  rho::TrainOptions o;
  o.train_data = {a};
  o.out_dir = tmp.path + "/run";
  o.seq_len = kT;
  o.micro_batch = 4;
  o.grad_accum = 2;
  o.optim.max_steps = 6;
  o.optim.warmup_steps = 1;
  o.objective = "slm";
  o.selection.ratio = 0.6;
  o.selection.ref_scores = so.out_dir;
  o.selection.start_fraction = 0.5;  // steps 0-2 CLM, 3-5 SLM
  auto r = rho::train(o);
  const int64_t per_step = 4 * 2 * kT;
  EXPECT_EQ(r.tokens_seen, 6 * per_step);
  EXPECT_EQ(r.tokens_trained, 3 * per_step + 3 * rho::selected_count(per_step, 0.6));
}

}  // namespace

// --- the stream scope: a running threshold over the last M scores ------------------------------

std::unique_ptr<rho::SlmObjective> stream_objective(std::vector<torch::Tensor> ref, double ratio, int64_t window) {
  rho::SelectionOptions o;
  o.scope = rho::SelectionScope::Stream;
  o.ratio = ratio;
  o.stream_window = window;
  return std::make_unique<rho::SlmObjective>(o, std::make_unique<TableReference>(std::move(ref)), 1);
}

// A window of exactly one step's tokens is the batch scope: the k-th largest of the step.
TEST(StreamScope, WindowOfOneStepIsTheBatchScope) {
  auto s = make_batches(3, 21);
  auto model = tiny_model(3);
  std::vector<torch::Tensor> losses;
  std::vector<const rho::Batch*> batches;
  for (auto& b : s.micro) {
    losses.push_back(rho::per_token_loss(model->forward(b.inputs), b.targets).detach());
    batches.push_back(&b);
  }
  auto batch = objective(s, rho::SelectionScope::Batch, 0.4);
  auto stream = stream_objective(s.ref, 0.4, 3 * kB * kT);
  for (int64_t step = 0; step < 3; ++step) {  // the window is refilled each step
    auto want = batch->select(losses, batches, step, 0);
    auto got = stream->select(losses, batches, step, 0);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], want[i])) << "step " << step << " micro " << i;
  }
}

// k = 100% keeps every token with weight 1/N: CLM's loss and gradients.
TEST(StreamScope, RatioOneIsClm) {
  auto s = make_batches(2, 22);
  auto clm_model = tiny_model(6);
  auto clm = rho::accumulate_gradients(clm_model, s.micro);
  auto model = tiny_model(6);
  auto obj = stream_objective(s.ref, 1.0, 2 * kB * kT + 5);
  auto r = rho::accumulate_gradients(model, s.micro, {obj.get(), 0});
  EXPECT_NEAR(r.loss, clm.loss, 1e-6);
  EXPECT_EQ(r.tokens_trained, clm.tokens_trained);
  EXPECT_LT(max_grad_diff(grads(model), grads(clm_model)), 1e-7);
}

// Hand-computed: steps of 4 tokens whose excess losses are given, k = 50%, M = 6.
TEST(StreamScope, HandComputedThresholdAcrossSteps) {
  auto losses = [](std::vector<float> v) { return torch::tensor(v, torch::kFloat).view({1, 4}); };
  rho::Batch b;
  b.windows = {{0, 0}};  // table key 0: reference losses all 0, so the score is the loss
  const std::vector<const rho::Batch*> batches = {&b};
  auto obj = stream_objective({torch::zeros({1, 4})}, 0.5, 6);
  auto step = [&](std::vector<float> v, int64_t s) {
    rho::SelectionStats stats;
    auto w = obj->weights({losses(v)}, batches, s, 0, 1, stats);
    return to_vec(w[0]);
  };
  // Window [1 2 3 4]: k = 2, threshold 3: tokens 3 and 4, 1/2 each.
  EXPECT_EQ(step({1, 2, 3, 4}, 0), (std::vector<float>{0, 0, 0.5f, 0.5f}));
  // Window [3 4 0.5 5 2.5 1]: k = 3 (5, 4, 3), threshold 3: only 5 of this step passes.
  EXPECT_EQ(step({0.5f, 5, 2.5f, 1}, 1), (std::vector<float>{0, 1, 0, 0}));
  // Window [2.5 1 0.2 0.1 3.5 0.3]: threshold 1 (3.5, 2.5, 1): 3.5 passes.
  EXPECT_EQ(step({0.2f, 0.1f, 3.5f, 0.3f}, 2), (std::vector<float>{0, 0, 1, 0}));
  // Window [3.5 0.3 0.05 0.04 0.01 0.02]: threshold 0.05 (3.5, 0.3, 0.05).
  EXPECT_EQ(step({0.05f, 0.04f, 0.01f, 0.02f}, 3), (std::vector<float>{1, 0, 0, 0}));
  // The window is the state a checkpoint keeps: the last 6 scores, oldest first.
  EXPECT_EQ(obj->stream_window(), (std::vector<float>{3.5f, 0.3f, 0.05f, 0.04f, 0.01f, 0.02f}));
  // M = 8: after [1 2 3 4], the window [1 2 3 4 .1 .2 .3 .4] has threshold 1 (4, 3, 2, 1) and
  // none of the second step reaches it: its best (0.4) trains alone, so no step trains on nothing.
  obj = stream_objective({torch::zeros({1, 4})}, 0.5, 8);
  EXPECT_EQ(step({1, 2, 3, 4}, 0), (std::vector<float>{0, 0, 0.5f, 0.5f}));
  EXPECT_EQ(step({0.1f, 0.2f, 0.3f, 0.4f}, 1), (std::vector<float>{0, 0, 0, 1}));
  // A restored window continues where it was.
  auto resumed = stream_objective({torch::zeros({1, 4})}, 0.5, 8);
  resumed->set_stream_window(obj->stream_window());
  rho::SelectionStats stats;
  auto a = to_vec(obj->weights({losses({2.5f, 0.5f, 3.5f, 9})}, batches, 2, 0, 1, stats)[0]);
  auto r = to_vec(resumed->weights({losses({2.5f, 0.5f, 3.5f, 9})}, batches, 2, 0, 1, stats)[0]);
  EXPECT_EQ(a, r);
  // Window [.1 .2 .3 .4 2.5 .5 3.5 9]: threshold 0.5 (9, 3.5, 2.5, 0.5): all four of this step.
  EXPECT_EQ(a, (std::vector<float>{0.25f, 0.25f, 0.25f, 0.25f}));
}
