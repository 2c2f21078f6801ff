// Training loop: exact resume, schedule, refusal to clobber a run, checkpoint contents.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny.h"

#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/error.h"
#include "common/fileio.h"
#include "data/shard.h"
#include "model/io.h"
#include "model/safetensors.h"
#include "scoring/scorer.h"
#include "train/checkpoint.h"
#include "train/schedule.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

using rho_test::small_run;
using rho_test::write_corpus;

std::map<std::string, torch::Tensor> weights(const std::string& model_dir) {
  return rho::load_safetensors(model_dir + "/model.safetensors").tensors;
}

TEST(Schedule, WarmupThenCosineToMinLr) {
  EXPECT_DOUBLE_EQ(rho::lr_at(0, 10, 110, 1.0, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(rho::lr_at(9, 10, 110, 1.0, 0.1), 1.0);
  EXPECT_DOUBLE_EQ(rho::lr_at(10, 10, 110, 1.0, 0.1), 1.0);
  EXPECT_NEAR(rho::lr_at(60, 10, 110, 1.0, 0.1), 0.55, 1e-12);  // half-way: mean of lr and min_lr
  EXPECT_NEAR(rho::lr_at(110, 10, 110, 1.0, 0.1), 0.1, 1e-12);
  EXPECT_NEAR(rho::lr_at(500, 10, 110, 1.0, 0.1), 0.1, 1e-12);
}

TEST(Train, LossFallsOnLearnableData) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 20000, 1);
  auto o = small_run(data, tmp.path + "/run");
  o.optim.max_steps = 30;
  o.val_every = 0;
  auto r = rho::train(o);
  auto metrics = rho::read_file(o.out_dir + "/metrics.jsonl");
  auto first = nlohmann::json::parse(metrics.substr(0, metrics.find('\n')));
  EXPECT_LT(r.final_train_loss, first["loss"].get<double>() - 1.0);
  EXPECT_EQ(r.tokens_seen, 30 * 4 * 16 * 2);
  EXPECT_EQ(r.tokens_trained, r.tokens_seen);  // CLM trains on every token
}

TEST(Train, ResumeIsExact) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 20000, 2);
  // N steps straight.
  auto straight = small_run(data, tmp.path + "/straight");
  auto a = rho::train(straight);
  // N/2, stop, resume, N/2.
  auto halves = small_run(data, tmp.path + "/halves");
  halves.stop_after = 4;
  auto first_half = rho::train(halves);
  EXPECT_EQ(first_half.steps, 4);
  halves.stop_after = 0;
  halves.resume = true;
  auto b = rho::train(halves);
  EXPECT_EQ(b.steps, 8);
  EXPECT_EQ(a.final_train_loss, b.final_train_loss);  // bit-identical
  EXPECT_EQ(a.final_val_loss, b.final_val_loss);
  EXPECT_EQ(a.tokens_seen, b.tokens_seen);
  auto wa = weights(a.final_dir), wb = weights(b.final_dir);
  ASSERT_EQ(wa.size(), wb.size());
  for (auto& [name, t] : wa) EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
  // The metrics file reads as one run: one line per step, steps 1..8 in order.
  std::istringstream lines(rho::read_file(halves.out_dir + "/metrics.jsonl"));
  std::string line;
  int64_t expect = 1;
  while (std::getline(lines, line)) EXPECT_EQ(nlohmann::json::parse(line)["step"].get<int64_t>(), expect++);
  EXPECT_EQ(expect, 9);
}

// The stream scope's threshold depends on the scores of earlier steps: a checkpoint keeps them.
TEST(Train, ResumeIsExactWithStreamScope) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 20000, 2);
  auto run = [&](const std::string& out) {
    auto o = small_run(data, tmp.path + "/" + out);
    o.objective = "slm";
    o.selection.score = rho::ScoreFunction::CurrentLoss;  // needs no reference
    o.selection.scope = rho::SelectionScope::Stream;
    o.selection.stream_window = 3 * 4 * 16 * 2;  // three steps' tokens
    return o;
  };
  auto a = rho::train(run("straight"));
  auto halves = run("halves");
  halves.stop_after = 4;
  rho::train(halves);
  halves.stop_after = 0;
  halves.resume = true;
  auto b = rho::train(halves);
  EXPECT_EQ(a.final_train_loss, b.final_train_loss);  // bit-identical
  EXPECT_EQ(a.tokens_trained, b.tokens_trained);
  auto wa = weights(a.final_dir), wb = weights(b.final_dir);
  for (auto& [name, t] : wa) EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
  // Without its window a stream checkpoint is refused by name, not resumed with another threshold.
  const std::string ckpt = halves.out_dir + "/checkpoints/step_0000004";
  ASSERT_TRUE(rho::file_exists(ckpt + "/selection.safetensors"));
  std::filesystem::remove(ckpt + "/selection.safetensors");
  std::filesystem::remove_all(halves.out_dir + "/checkpoints/step_0000008");
  rho::write_file_atomic(halves.out_dir + "/checkpoints/latest", "step_0000004\n");
  try {
    rho::train(halves);
    FAIL() << "resumed without the stream window";
  } catch (const rho::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("selection.safetensors: missing"), std::string::npos) << e.what();
  }
}

TEST(Train, RefusesToOverwriteARunWithoutResume) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 5000, 3);
  auto o = small_run(data, tmp.path + "/run");
  o.optim.max_steps = 2;
  rho::train(o);
  try {
    rho::train(o);
    FAIL() << "expected UserError";
  } catch (const rho::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
}

TEST(Train, CheckpointIsAModelDirectoryAndLatestPointsAtIt) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 5000, 4);
  auto o = small_run(data, tmp.path + "/run");
  o.optim.max_steps = 4;
  o.ckpt_every = 2;
  o.keep_last = 1;
  rho::train(o);
  auto latest = rho::latest_checkpoint(o.out_dir);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(fs::path(*latest).filename(), "step_0000004");
  EXPECT_FALSE(fs::exists(o.out_dir + "/checkpoints/step_0000002"));  // keep_last = 1
  auto model = rho::load_model(*latest);
  EXPECT_EQ(model->config.vocab_size, 97);
  for (auto& e : fs::directory_iterator(o.out_dir + "/checkpoints"))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
}

TEST(Train, BadSettingsNameTheRange) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 5000, 5);
  auto o = small_run(data, tmp.path + "/run");
  o.optim.lr = 2.0;
  EXPECT_EQ(error_of([&] { rho::train(o); }), "--lr must be in (0, 1], got 2.000000");
  o = small_run(data, tmp.path + "/run");
  o.micro_batch = 0;
  EXPECT_EQ(error_of([&] { rho::train(o); }), "--batch must be in [1, 1048576], got 0");
  o = small_run(data, tmp.path + "/run");
  o.optim.min_lr = 0.5;
  EXPECT_EQ(error_of([&] { rho::train(o); }), "--min-lr must be in [0, --lr]");
}

// Rules between settings are refused by flag before anything is read: the data here does not
// exist, so an error about it would mean the rule came too late.
TEST(Train, CombinationsAreRefusedBeforeAnythingLoads) {
  TempDir tmp;
  const auto base = small_run(tmp.path + "/no-such-data", tmp.path + "/run");
  auto refused = [&](const std::function<void(rho::TrainOptions&)>& change) {
    auto o = base;
    change(o);
    return error_of([&] { rho::train(o); });
  };
  EXPECT_EQ(refused([](auto& o) { o.objective = "slm"; }),
            "--score excess needs reference losses: pass --ref-scores DIR or --ref-model DIR");
  EXPECT_EQ(refused([](auto& o) { o.selection.ref_scores = "scores"; }),
            "--ref-scores applies to --objective slm only; this run is --objective clm");
  EXPECT_EQ(refused([](auto& o) { o.selection.ref_tokenizer = "tok"; }),
            "--ref-tokenizer applies to --objective slm only; this run is --objective clm");
  EXPECT_EQ(refused([](auto& o) {
              o.objective = "slm";
              o.selection.ref_model = "ref";
              o.selection.ref_tokenizer = "tok";
            }),
            "--ref-tokenizer needs --ref-scores: it names the tokenizer a --cross-tokenizer reference scored them with");
  EXPECT_EQ(refused([](auto& o) { o.selection.ratio = 0.4; }),
            "--ratio applies to --objective slm only; this run is --objective clm");
  EXPECT_EQ(refused([](auto& o) { o.selection.start_fraction = 0.1; }),
            "--slm-start applies to --objective slm only; this run is --objective clm");
  EXPECT_EQ(refused([](auto& o) {
              o.objective = "slm";
              o.selection.score = rho::ScoreFunction::Random;
              o.selection.ref_scores = "scores";
            }),
            "--ref-scores does nothing with --score random (it ranks by the model's own losses or at random)");
  EXPECT_EQ(refused([](auto& o) {
              o.objective = "slm";
              o.selection.ref_scores = "scores";
              o.selection.ref_model = "ref";
            }),
            "pass --ref-scores or --ref-model, not both");
  // Softmax weighting's flags: each refused where it does nothing, a temperature <= 0 by range.
  EXPECT_EQ(refused([](auto& o) { o.selection.weighting = rho::TokenWeighting::Softmax; }),
            "--weighting applies to --objective slm only; this run is --objective clm");
  auto slm = [](rho::TrainOptions& o) {
    o.objective = "slm";
    o.selection.ref_scores = "scores";
  };
  EXPECT_EQ(refused([&](auto& o) {
              slm(o);
              o.selection.temperature = 0.5;
            }),
            "--temperature applies to --weighting softmax only; this run is --weighting topk");
  EXPECT_EQ(refused([&](auto& o) {
              slm(o);
              o.selection.weighting = rho::TokenWeighting::Softmax;
              o.selection.ratio = 0.4;
            }),
            "--ratio is top-k's kept share; --weighting softmax trains on every token (weighted), so it does nothing");
  EXPECT_EQ(refused([&](auto& o) {
              slm(o);
              o.selection.weighting = rho::TokenWeighting::Softmax;
              o.selection.temperature = 0;
            }),
            "--temperature must be in (0, 1e+06], got 0.000000");
  // The stream scope's window: only with that scope, at least one step's tokens, and no softmax.
  EXPECT_EQ(refused([&](auto& o) {
              slm(o);
              o.selection.stream_window = 4096;
            }),
            "--stream-window applies to --selection-scope stream only; this run is --selection-scope batch");
  EXPECT_EQ(refused([&](auto& o) {
              slm(o);
              o.selection.scope = rho::SelectionScope::Stream;
              o.selection.stream_window = 100;
            }),
            "--stream-window must hold at least one step's tokens (--batch x --seq-len x --grad-accum x processes = 128), "
            "got 100");
  EXPECT_EQ(refused([&](auto& o) {
              slm(o);
              o.selection.scope = rho::SelectionScope::Stream;
              o.selection.weighting = rho::TokenWeighting::Softmax;
            }),
            "--selection-scope stream keeps tokens above a running threshold; --weighting softmax has no threshold "
            "(use it with --selection-scope batch, micro-batch or sequence)");
  EXPECT_EQ(refused([](auto& o) {
              o.head.fused = false;
              o.head.chunk_tokens = 64;
            }),
            "--head-chunk sets the fused head's chunk; it does nothing with --plain-head");
  // Random scores need no reference: the run gets past validation to the (missing) data.
  const auto msg = refused([](auto& o) {
    o.objective = "slm";
    o.selection.score = rho::ScoreFunction::Random;
  });
  EXPECT_TRUE(contains(msg, "no-such-data")) << msg;
}

// A debug model over the test corpus's tokenizer (fingerprint 42), saved as a model directory.
std::string save_model_for_corpus(const std::string& dir, uint64_t seed, bool poison = false) {
  auto m = rho_test::tiny_model(97, seed, {42, 97, "test corpus"});
  if (poison) {
    torch::NoGradGuard no_grad;
    m->model->norm->weight.fill_(std::nanf(""));
  }
  rho::save_model(dir, m);
  return dir;
}

// A resume continues the same method or nothing: every method setting changed on resume is
// refused with the setting and both values named.
TEST(Train, ResumeRefusesAChangedMethod) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 5000, 6);
  rho::ScoreOptions so;
  so.model = save_model_for_corpus(tmp.path + "/ref", 3);
  so.data = {data};
  so.seq_len = 16;
  so.out_dir = tmp.path + "/scores";
  rho::score_shards(so);
  so.out_dir = tmp.path + "/scores2";
  rho::score_shards(so);
  auto o = small_run(data, tmp.path + "/run");
  o.objective = "slm";
  o.selection.ref_scores = tmp.path + "/scores";
  o.selection.ratio = 0.6;
  o.stop_after = 2;
  rho::train(o);
  o.resume = true;
  o.stop_after = 0;
  const std::string ckpt = tmp.path + "/run/checkpoints/step_0000002";
  auto refused = [&](const std::function<void(rho::TrainOptions&)>& change, const std::string& named) {
    auto changed = o;
    change(changed);
    const auto msg = error_of([&] { rho::train(changed); });
    EXPECT_TRUE(contains(msg, ckpt + ": was written with " + named)) << msg;
  };
  refused([&](auto& c) { c.selection.ratio = 0.4; }, "--ratio 0.6, this run has 0.4");
  refused([&](auto& c) { c.selection.ref_scores = tmp.path + "/scores2"; },
          "--ref-scores \"" + tmp.path + "/scores\", this run has \"" + tmp.path + "/scores2\"");
  refused([&](auto& c) { c.selection.start_fraction = 0.5; }, "--slm-start 0.0, this run has 0.5");
  refused([&](auto& c) { c.selection.score = rho::ScoreFunction::ReferenceLoss; }, "--score \"excess\", this run has \"ref-loss\"");
  refused([&](auto& c) { c.selection.scope = rho::SelectionScope::Sequence; }, "--selection-scope \"batch\"");
  refused([&](auto& c) {
    c.selection.ref_scores.clear();
    c.selection.ref_model = tmp.path + "/ref";
  }, "--ref-scores");
  refused([&](auto& c) {
    c.objective = "clm";
    c.selection = {};  // CLM takes no SLM settings (validate() refuses them)
  }, "--objective \"slm\", this run has \"clm\"");
  refused([&](auto& c) { c.seq_len = 8; }, "--seq-len 16, this run has 8");
  refused([&](auto& c) { c.micro_batch = 2; }, "--batch 4, this run has 2");
  refused([&](auto& c) { c.train_data = {data, data}; }, "--data");
  // Settings a resume may change: more steps, logging; the run then continues.
  o.optim.max_steps = 10;
  o.log_every = 3;
  EXPECT_EQ(rho::train(o).steps, 10);
}

// A step whose loss is not finite makes no update and trains on no token; the run counts it.
TEST(Train, SkippedStepsTrainOnNothing) {
  TempDir tmp;
  auto data = write_corpus(tmp.path + "/data", 5000, 7);
  auto o = small_run(data, tmp.path + "/run");
  o.init_from = save_model_for_corpus(tmp.path + "/nan", 1, /*poison=*/true);
  o.val_data.clear();
  o.optim.max_steps = 3;
  const auto r = rho::train(o);
  EXPECT_EQ(r.bad_steps, 3);
  EXPECT_EQ(r.tokens_seen, 3 * 4 * 16 * 2);
  EXPECT_EQ(r.tokens_trained, 0);
}

}  // namespace
