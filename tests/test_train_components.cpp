// The trainer's components, each with its own interval: validation, the step log, checkpoints,
// and the settings table they are configured from.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include "common/fileio.h"
#include "data/shard.h"
#include "model/io.h"
#include "train/checkpoint.h"
#include "train/step_log.h"
#include "train/validator.h"

namespace fs = std::filesystem;

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

std::string write_shards(const std::string& dir) {
  std::mt19937 rng(3);
  std::vector<int32_t> toks(2000);
  for (auto& t : toks) t = int32_t(3 + rng() % 90);
  rho_test::write_shard(dir + "/v_000000.bin", toks, 97, 42);
  return dir;
}

rho::LlamaForCausalLM model_97() {
  return rho_test::tiny_model(97, 1, {42, 97, "test"});
}

rho::TrainOptions options(const std::string& dir) {
  rho::TrainOptions o;
  o.train_data = o.val_data = {write_shards(dir + "/val")};
  o.out_dir = dir + "/run";
  o.seq_len = 16;
  o.micro_batch = 4;
  return o;
}

TEST(Validator, RunsEveryNStepsAndAtTheLastOnTheFirstWindows) {
  TempDir tmp;
  auto o = options(tmp.path);
  o.val_every = 4;
  o.val_batches = 3;
  auto model = model_97();
  rho::Validator v(o, {42, 97, "t"}, rho::Compute{}, nullptr);
  EXPECT_EQ(v.windows(), 12);  // 3 micro-batches of 4 windows
  EXPECT_TRUE(std::isnan(v.last()));
  for (int64_t step = 1; step <= 9; ++step) {
    const auto val = v.after_step(model, step, step == 9);
    EXPECT_EQ(val.has_value(), step == 4 || step == 8 || step == 9) << step;
  }
  // The mean over exactly those windows' tokens.
  rho::PackedDataset data(rho::list_shards(o.val_data), 16);
  double sum = 0;
  std::vector<int64_t> in(16), tg(16);
  torch::NoGradGuard no_grad;
  for (int64_t w = 0; w < 12; ++w) {
    data.read_window(data.window_in_order(w), in.data(), tg.data());
    sum += rho::per_token_loss(model->forward(torch::tensor(in).view({1, 16})), torch::tensor(tg).view({1, 16}))
               .sum()
               .item<double>();
  }
  EXPECT_NEAR(v.last(), sum / (12 * 16), 1e-6);
  // Shards of another tokenizer are refused.
  EXPECT_TRUE(contains(error_of([&] { rho::Validator(o, {41, 97, "t"}, rho::Compute{}, nullptr); }), "expected 0000000000000029"));
  // No validation data: never due.
  o.val_data.clear();
  rho::Validator none(o, {42, 97, "t"}, rho::Compute{}, nullptr);
  EXPECT_FALSE(none.after_step(model, 4, true).has_value());
}

TEST(StepLog, OneMetricsLineAStepAndResumeDropsLaterOnes) {
  TempDir tmp;
  auto o = options(tmp.path);
  fs::create_directories(o.out_dir);
  rho::TrainerState state;
  rho::StepStats stats;
  stats.loss = 2.5;
  stats.tokens_seen = stats.tokens_trained = 64;
  {
    rho::StepLog log(o, model_97()->config, 10, -1, true);
    for (state.step = 1; state.step <= 5; ++state.step) {
      state.tokens_seen += 64;
      log.record(state, stats, 1e-3, state.step == 4 ? std::optional<double>(3.0) : std::nullopt, false, state.step == 5);
    }
  }
  auto lines = [&] {
    std::vector<nlohmann::json> out;
    std::ifstream in(o.out_dir + "/metrics.jsonl");
    for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
    return out;
  };
  auto m = lines();
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[3]["val_loss"].get<double>(), 3.0);
  EXPECT_FALSE(m[2].contains("val_loss"));
  EXPECT_EQ(m[4]["tokens_seen"].get<int64_t>(), 5 * 64);
  // tokens_per_s is measured at the progress lines: every log_every (10) steps, validation, last.
  EXPECT_TRUE(m[3].contains("tokens_per_s") && m[4].contains("tokens_per_s"));
  EXPECT_FALSE(m[0].contains("tokens_per_s"));
  // Resuming from step 3 keeps lines 1-3 only; other ranks write nothing.
  { rho::StepLog resumed(o, model_97()->config, 10, 3, true); }
  EXPECT_EQ(lines().size(), 3u);
  { rho::StepLog other_rank(o, model_97()->config, 10, -1, false); }
  EXPECT_EQ(lines().size(), 3u);
}

TEST(CheckpointPolicy, EveryNStepsTheLastAndOnStop) {
  TempDir tmp;
  auto model = model_97();
  auto opt = rho::make_optimizer(model, rho::OptimOptions{});
  rho::CheckpointPolicy policy(tmp.path, /*every=*/3, /*keep_last=*/0, /*rank0=*/true, /*saved_step=*/-1);
  rho::TrainerState state;
  for (state.step = 1; state.step <= 7; ++state.step) policy.after_step(model, *opt, state, state.step == 7);
  std::set<std::string> names;
  for (auto& e : fs::directory_iterator(tmp.path + "/checkpoints"))
    if (e.is_directory()) names.insert(e.path().filename());
  EXPECT_EQ(names, (std::set<std::string>{"step_0000003", "step_0000006", "step_0000007"}));
  // Stopped right after a saved step: that checkpoint; after an unsaved one: a new checkpoint.
  state.step = 7;
  EXPECT_EQ(policy.on_stop(model, *opt, state), tmp.path + "/checkpoints/step_0000007");
  state.step = 8;
  EXPECT_EQ(policy.on_stop(model, *opt, state), tmp.path + "/checkpoints/step_0000008");
  EXPECT_EQ(rho::read_file(tmp.path + "/checkpoints/latest"), "step_0000008\n");
  // Other ranks never write.
  rho::CheckpointPolicy other(tmp.path + "/other", 1, 0, false, -1);
  other.after_step(model, *opt, state, true);
  EXPECT_FALSE(fs::exists(tmp.path + "/other"));
}

// Counts how the table describes each setting; every numeric one is checked at its bounds.
struct TableProbe {
  rho::TrainOptions* o;
  std::set<std::string> flags, keys;
  std::vector<std::string> duplicates, range_errors;
  void seen(const char* flag, const char* key) {
    if (flag && !flags.insert(flag).second) duplicates.push_back(flag);
    if (key && !keys.insert(key).second) duplicates.push_back(key);
  }
  // The bound itself passes validate(); one step outside it fails, naming the flag.
  template <class T>
  void probe(const char* flag, T& x, T inside, T outside) {
    const T saved = x;
    x = inside;
    std::string ok;
    try {
      o->validate();
    } catch (const rho::UserError& e) {
      ok = e.what();
    }
    x = outside;
    std::string bad;
    try {
      o->validate();
    } catch (const rho::UserError& e) {
      bad = e.what();
    }
    x = saved;
    if (!ok.empty() || bad.find(flag) != 0) range_errors.push_back(std::string(flag) + ": '" + ok + "' / '" + bad + "'");
  }
  template <class I>
  void integer(const char* flag, const char* key, I& x, I lo, I hi, rho::OnResume, const char*) {
    seen(flag, key);
    if (!flag) return;
    // --stream-window counts only with the stream scope.
    const bool stream = std::string(flag) == "--stream-window";
    const auto saved = o->selection;
    if (stream) o->selection.scope = rho::SelectionScope::Stream;
    if (lo > std::numeric_limits<I>::min()) probe(flag, x, lo, I(lo - 1));
    if (hi < std::numeric_limits<I>::max()) probe(flag, x, hi, I(hi + 1));
    if (stream) o->selection = saved;
  }
  void real(const char* flag, const char* key, double& x, rho::Bounds b, rho::OnResume, const char*) {
    seen(flag, key);
    if (!flag || std::string(flag) == "--lr") return;  // lr's upper bound also bounds --min-lr; probed apart
    // --temperature counts only with softmax weighting (which refuses a --ratio of its own).
    const bool soft = std::string(flag) == "--temperature";
    const auto saved = o->selection;
    if (soft) o->selection.weighting = rho::TokenWeighting::Softmax;
    probe(flag, x, b.hi, std::nextafter(b.hi, 2 * b.hi + 1));
    probe(flag, x, b.open_lo ? std::nextafter(b.lo, b.hi) : b.lo, b.open_lo ? b.lo : std::nextafter(b.lo, b.lo - 1));
    if (soft) o->selection = saved;
  }
  void text(const char* f, const char* k, std::string&, bool, rho::OnResume, const char*) { seen(f, k); }
  void texts(const char* f, const char* k, std::vector<std::string>&, bool, rho::OnResume, const char*) { seen(f, k); }
  template <class E>
  void choice(const char* f, const char* k, E&, const std::vector<std::pair<std::string, E>>&, rho::OnResume, const char*) {
    seen(f, k);
  }
  void flag(const char* f, const char* k, bool&, bool, rho::OnResume, const char*) { seen(f, k); }
};

TEST(TrainOptions, OneTableDrivesValidationAndTheRecord) {
  rho::TrainOptions o;
  o.train_data = {"d"};
  o.out_dir = "o";
  o.optim.lr = 1.0;  // so every --min-lr in its range is also <= --lr
  o.objective = "slm";  // so SLM's settings are in play (under CLM they are refused by name)
  o.selection.ref_scores = "s";
  TableProbe p{&o};
  o.describe(p);
  EXPECT_TRUE(p.duplicates.empty()) << p.duplicates[0];
  for (auto& e : p.range_errors) ADD_FAILURE() << e;
  // The record holds exactly the table's keys.
  std::set<std::string> json_keys;
  const auto record = o.to_json();  // kept alive: items() refers into it
  for (auto& [k, v] : record.items()) json_keys.insert(k);
  for (auto& k : p.keys) EXPECT_TRUE(json_keys.count(k)) << k << " is in the table but not in the record";
  for (auto& k : json_keys) EXPECT_TRUE(p.keys.count(k)) << k << " is in the record but not in the table";
  // And a resume against its own record passes.
  EXPECT_NO_THROW(o.check_resume(o.to_json(), "ckpt"));
  auto saved = o.to_json();
  saved.erase("ratio");
  EXPECT_EQ(error_of([&] { o.check_resume(saved, "ckpt"); }),
            "ckpt: does not record --ratio (written by an older rho); resume needs every method setting");
}

}  // namespace
