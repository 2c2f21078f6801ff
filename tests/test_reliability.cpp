// Failure handling: full disks, stale temporaries of killed writers, non-finite steps, damaged
// checkpoint metadata. (Process kills and signals are tested end to end in tests/cli/crash_*.sh.)
#include <gtest/gtest.h>

#include "test_util.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"
#include "common/torch_compat.h"
#include "model/llama.h"
#include "train/guard.h"
#include "train/trainer.h"
#include "train/trainer_state.h"

namespace fs = std::filesystem;
using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;


TEST(Reliability, FullDiskIsReportedWithTheFileName) {
  // /dev/full accepts fwrite into stdio's buffer and fails the flush with ENOSPC: the same point
  // where a full disk shows up.
  std::FILE* f = std::fopen("/dev/full", "wb");
  ASSERT_NE(f, nullptr);
  rho::fwrite_checked(f, "some bytes", 10, "/dev/full");
  const auto msg = error_of([&] { rho::close_checked(f, "ckpt/model.safetensors"); });
  EXPECT_TRUE(contains(msg, "ckpt/model.safetensors: write failed: No space left on device")) << msg;
}

TEST(Reliability, FailedWriteKeepsTheOldFileAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.write("state.json", "old contents\n");
  // In a child: a file size limit makes the write fail partway (EFBIG), like a disk filling up.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    const auto msg = error_of([&] { rho::write_file_atomic(path, std::string(1 << 20, 'x')); });
    ::_exit(contains(msg, path + ": write failed: File too large") ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the error did not name the file and the cause";
  EXPECT_EQ(rho::read_file(path), "old contents\n");
  const auto entries = std::distance(fs::directory_iterator(dir.path), fs::directory_iterator());
  EXPECT_EQ(entries, 1) << "a temporary was left behind";
}

TEST(Reliability, AtomicWriteRefusesToReplaceADevice) {
  const auto msg = error_of([] { rho::write_file_atomic("/dev/null", std::string("x")); });
  EXPECT_TRUE(contains(msg, "/dev/null: exists and is not a regular file")) << msg;
  struct stat st;
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(Reliability, StaleTemporariesOfDeadWritersAreRemoved) {
  TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // now a pid that no process has
  const std::string dead = std::to_string(child), mine = std::to_string(::getpid());
  dir.write("latest.tmp." + dead, "step_0000003\n");
  fs::create_directories(dir.path + "/step_0000004.tmp." + dead);
  dir.write("step_0000004.tmp." + dead + "/model.safetensors", "partial");
  dir.write("latest.tmp." + mine, "in flight");
  dir.write("notes.tmp.txt", "not a temporary of ours");
  EXPECT_EQ(rho::remove_stale_temps(dir.path), 2);
  EXPECT_FALSE(fs::exists(dir.path + "/latest.tmp." + dead));
  EXPECT_FALSE(fs::exists(dir.path + "/step_0000004.tmp." + dead));
  EXPECT_TRUE(fs::exists(dir.path + "/latest.tmp." + mine));
  EXPECT_TRUE(fs::exists(dir.path + "/notes.tmp.txt"));
}

TEST(Reliability, BadStepGuardStopsAfterTooManyInARow) {
  rho::BadStepGuard g(3);
  g.record(1, 2.0, 1.0);
  EXPECT_EQ(g.total(), 0);
  g.record(2, std::nan(""), 1.0);
  g.record(3, 2.0, INFINITY);
  g.record(4, 2.0, 1.0);  // a good step resets the streak, not the total
  EXPECT_EQ(g.total(), 2);
  // Without the reset, step 5 would be the third in a row and throw.
  EXPECT_NO_THROW(g.record(5, std::nan(""), std::nan("")));
  EXPECT_NO_THROW(g.record(6, std::nan(""), 1.0));
  const auto msg = error_of([&] { g.record(7, -INFINITY, 1.0); });
  EXPECT_TRUE(contains(msg, "step 7: loss or gradient not finite for 3 steps in a row (--max-bad-steps 3)")) << msg;
  EXPECT_EQ(g.total(), 5);
}

TEST(Reliability, NonFiniteStepMakesNoUpdate) {
  torch::manual_seed(0);
  auto cfg = rho::preset("debug");
  cfg.vocab_size = 64;
  rho::LlamaForCausalLM model(cfg);
  auto opt = rho::make_optimizer(model, rho::OptimOptions{});
  rho::Batch b;
  b.inputs = torch::randint(0, 64, {2, 8}, torch::kLong);    // (B, T)
  b.targets = torch::randint(0, 64, {2, 8}, torch::kLong);   // (B, T)
  {
    torch::NoGradGuard g;
    model->named_parameters()["model.norm.weight"][0] = std::nan("");
  }
  std::vector<torch::Tensor> before;
  for (auto& p : model->parameters()) before.push_back(p.detach().clone());
  for (double clip : {1.0, 0.0}) {
    auto s = rho::train_step(model, *opt, {b}, 1e-2, clip);
    EXPECT_TRUE(s.skipped);
    EXPECT_FALSE(std::isfinite(s.loss));
  }
  size_t i = 0;
  for (auto& p : model->parameters()) {
    EXPECT_TRUE(torch::equal(p.detach().isnan(), before[i].isnan()));
    EXPECT_TRUE(torch::equal(torch::nan_to_num(p.detach()), torch::nan_to_num(before[i])));
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().sum().item<double>() == 0);
    ++i;
  }
  // A finite step on a healthy model is applied.
  rho::LlamaForCausalLM healthy(cfg);
  auto opt2 = rho::make_optimizer(healthy, rho::OptimOptions{});
  auto w0 = healthy->parameters()[0].detach().clone();
  EXPECT_FALSE(rho::train_step(healthy, *opt2, {b}, 1e-2, 1.0).skipped);
  EXPECT_FALSE(torch::equal(w0, healthy->parameters()[0].detach()));
}

TEST(Reliability, DamagedTrainerStateAndLatestPointerAreNamed) {
  rho::TrainerState s;
  s.step = 12, s.data_cursor = 96, s.tokens_seen = 3000, s.tokens_trained = 1800, s.bad_steps = 2;
  s.run = {{"seq_len", 16}};
  auto back = rho::parse_trainer_state(rho::trainer_state_json(s), "x");
  EXPECT_EQ(back.step, 12);
  EXPECT_EQ(back.bad_steps, 2);
  EXPECT_EQ(back.run, s.run);
  EXPECT_TRUE(contains(error_of([] { rho::parse_trainer_state("{\"step\": 3", "c/trainer_state.json"); }),
                       "c/trainer_state.json: invalid JSON"));
  EXPECT_TRUE(contains(error_of([] { rho::parse_trainer_state("{\"step\": \"3\"}", "t.json"); }),
                       "t.json: missing or mistyped field"));
  EXPECT_TRUE(contains(error_of([] {
                         rho::parse_trainer_state(
                             "{\"step\": -1, \"data_cursor\": 0, \"tokens_seen\": 0, \"tokens_trained\": 0}", "t.json");
                       }),
                       "t.json: step is negative"));
  EXPECT_EQ(rho::parse_latest_pointer("step_0000040\n", "latest"), "step_0000040");
  EXPECT_TRUE(contains(error_of([] { rho::parse_latest_pointer("../../etc\n", "run/latest"); }),
                       "run/latest: does not name a checkpoint"));
}
