// --master-weights fp32 (train/master_weights.h), on the CPU in bf16: gradients gather in fp32
// masters, the parameters stay bf16, checkpoints hold the masters, a resume is exact, and the
// loss follows the autocast path's. The 200-step demo comparison is scripts/check-master-weights.sh.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny.h"

#include "common/fileio.h"
#include "model/safetensors.h"
#include "train/master_weights.h"
#include "train/trainer.h"

namespace {

using rho_test::TempDir;
using rho_test::error_of;

// The training tests' small run (tests/tiny.h), in bf16, with or without master weights.
rho::TrainOptions bf16_run(const std::string& data, const std::string& out, bool master) {
  auto o = rho_test::small_run(data, out);
  o.val_every = 0;
  o.precision = "bf16";
  o.master_fp32 = master;
  return o;
}

std::map<std::string, torch::Tensor> weights(const std::string& model_dir) {
  return rho::load_safetensors(model_dir + "/model.safetensors").tensors;
}

// Two backward passes (gradient accumulation): the masters' fp32 .grad is the fp32 sum of the
// bf16 gradients the same bf16 model gives without hooks, and no bf16 .grad is left behind.
TEST(MasterWeights, GradientsOfMicroBatchesSumInFp32) {
  auto model = rho_test::tiny_model(97, 3);
  auto plain = rho_test::tiny_model(97, 3);
  plain->to(torch::kBFloat16);
  rho::MasterWeights master(model);
  for (auto& p : model->parameters()) ASSERT_EQ(p.scalar_type(), torch::kBFloat16);
  torch::manual_seed(5);
  const auto a = torch::randint(0, 97, {2, 12}, torch::kLong), b = torch::randint(0, 97, {2, 12}, torch::kLong);
  std::vector<torch::Tensor> expected;
  for (size_t k = 0; k < master.masters().size(); ++k) expected.push_back(torch::zeros_like(master.masters()[k]));
  for (const auto& ids : {a, b}) {
    model->forward(ids).to(torch::kFloat).logsumexp(-1).mean().backward();
    master.after_backward();
    plain->forward(ids).to(torch::kFloat).logsumexp(-1).mean().backward();
    auto params = plain->parameters();
    for (size_t k = 0; k < params.size(); ++k) {
      expected[k] += params[k].grad().to(torch::kFloat);
      params[k].mutable_grad().reset();
    }
  }
  auto params = model->parameters();
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_FALSE(params[k].grad().defined()) << "bf16 .grad left in parameter " << k;
    ASSERT_TRUE(master.masters()[k].grad().defined());
    EXPECT_EQ(master.masters()[k].grad().scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(master.masters()[k].grad(), expected[k])) << "parameter " << k;
  }
}

// The masters differ from the bf16 parameters by rounding only, and write_back brings a changed
// master into its parameter.
TEST(MasterWeights, WriteBackRoundsTheMastersIntoTheParameters) {
  auto model = rho_test::tiny_model(97, 3);
  const auto before = model->parameters()[0].detach().clone();
  rho::MasterWeights master(model);
  EXPECT_TRUE(torch::equal(master.masters()[0], before));
  {
    torch::NoGradGuard no_grad;
    master.masters()[0].add_(0.5);
  }
  master.write_back();
  EXPECT_TRUE(torch::equal(model->parameters()[0], (before + 0.5).to(torch::kBFloat16)));
}

// Eight bf16 steps: the loss falls as the autocast path's does, within 2% at the end (the two
// round differently: bf16 weights and residual stream here, fp32 there).
TEST(MasterWeights, LossFollowsTheAutocastPath) {
  TempDir tmp;
  const auto data = rho_test::write_corpus(tmp.path + "/data", 20000, 7);
  auto autocast = bf16_run(data, tmp.path + "/autocast", false);
  auto master = bf16_run(data, tmp.path + "/master", true);
  autocast.optim.max_steps = master.optim.max_steps = 30;
  const auto a = rho::train(autocast), m = rho::train(master);
  const auto metrics = rho::read_file(master.out_dir + "/metrics.jsonl");
  const double first = nlohmann::json::parse(metrics.substr(0, metrics.find('\n')))["loss"].get<double>();
  EXPECT_LT(m.final_train_loss, first - 1.0);
  EXPECT_NEAR(m.final_train_loss / a.final_train_loss, 1.0, 0.02) << m.final_train_loss << " vs " << a.final_train_loss;
  EXPECT_NEAR(m.final_val_loss / a.final_val_loss, 1.0, 0.02) << m.final_val_loss << " vs " << a.final_val_loss;
  const auto summary = nlohmann::json::parse(rho::read_file(master.out_dir + "/summary.json"));
  const int64_t params = summary["memory_per_rank"]["optimizer_bytes"].get<int64_t>() / 8;  // AdamW: 2 fp32 moments
  EXPECT_EQ(summary["memory_per_rank"]["weights_bytes"].get<int64_t>(), 6 * params);        // bf16 + fp32 masters
  EXPECT_EQ(summary["memory_per_rank"]["gradients_peak_bytes"].get<int64_t>(), 4 * params);  // fp32
}

// Checkpoints and the final model hold fp32 masters; stopping at step 4 and resuming gives the
// straight run's weights exactly; writing checkpoints along the way changes nothing; and a
// checkpoint of an autocast run resumes with master weights (the same format).
TEST(MasterWeights, CheckpointsHoldTheMastersAndResumeIsExact) {
  TempDir tmp;
  const auto data = rho_test::write_corpus(tmp.path + "/data", 20000, 7);
  auto straight = bf16_run(data, tmp.path + "/straight", true);
  const auto s = rho::train(straight);
  auto every = bf16_run(data, tmp.path + "/every", true);
  every.ckpt_every = 2;
  const auto e = rho::train(every);
  auto halves = bf16_run(data, tmp.path + "/halves", true);
  halves.stop_after = 4;
  rho::train(halves);
  halves.stop_after = 0;
  halves.resume = true;
  const auto h = rho::train(halves);
  const auto ws = weights(s.final_dir), we = weights(e.final_dir), wh = weights(h.final_dir);
  for (auto& [name, t] : ws) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
    EXPECT_TRUE(torch::equal(t, we.at(name))) << name << ": checkpoints along the way changed the run";
    EXPECT_TRUE(torch::equal(t, wh.at(name))) << name << ": the resumed run differs";
  }
  // The masters are not bf16 values: a checkpoint holds more than the bf16 parameters.
  const auto& some = ws.begin()->second;
  EXPECT_FALSE(torch::equal(some, some.to(torch::kBFloat16).to(torch::kFloat)));
  EXPECT_EQ(s.final_train_loss, h.final_train_loss);

  auto mixed = bf16_run(data, tmp.path + "/mixed", false);
  mixed.stop_after = 4;
  rho::train(mixed);
  mixed.stop_after = 0;
  mixed.resume = true;
  mixed.master_fp32 = true;
  EXPECT_EQ(rho::train(mixed).steps, 8);
}

TEST(MasterWeights, RefusedWhereItCannotRun) {
  TempDir tmp;
  auto o = bf16_run(tmp.path + "/no-data", tmp.path + "/run", true);
  o.precision = "fp32";
  EXPECT_EQ(error_of([&] { o.validate(); }),
            "--master-weights fp32 keeps bf16 parameters for forward and backward; it needs --precision bf16 (this run is fp32)");
  o.precision = "bf16";
  o.world = 2;
  o.shard = rho::ShardLevel::Optimizer;
  EXPECT_EQ(error_of([&] { o.validate(); }),
            "--master-weights fp32 with --shard is not built: ZeRO's buckets hold the fp32 parameters themselves");
}

}  // namespace
