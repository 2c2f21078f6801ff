#include "train/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "common/torch_compat.h"
#include "common/fileio.h"
#include "dist/distributed.h"
#include "dist/sharded_optimizer.h"
#include "model/io.h"
#include "model/safetensors.h"

namespace fs = std::filesystem;

namespace rho {
namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%07lld", static_cast<long long>(step));
  return buf;
}

// Removes a checkpoint directory so that a kill midway never leaves a half-deleted checkpoint under
// its step name: one rename to a temporary name first (which remove_stale_temps clears should the
// deletion be cut short), then the deletion.
// Whether a run's settings ("run" of trainer_state.json) select with the stream scope.
bool streams(const nlohmann::json& run) {
  return run.is_object() && run.value("objective", "") == "slm" && run.value("scope", "") == "stream";
}

void remove_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  const std::string doomed = dir + ".old.tmp." + std::to_string(::getpid());
  fs::rename(dir, doomed, ec);
  if (!ec) fs::remove_all(doomed, ec);
}

// A test of crash safety (tests/cli/sharded.sh): RHO_FAULT_KILL_IN_SAVE=R:S makes rank R kill
// itself with SIGKILL right after writing its slices of step S's checkpoint, before the others
// know it finished.
void fault_kill_in_save(int rank, int64_t step) {
  const char* v = std::getenv("RHO_FAULT_KILL_IN_SAVE");
  if (v && std::to_string(rank) + ":" + std::to_string(step) == v) ::raise(SIGKILL);
}

// The temporary directory's name is rank 0's pid (remove_stale_temps knows such names): every
// rank learns it from rank 0.
int64_t rank0_pid(Distributed& dist) {
  auto t = torch::tensor({double(::getpid())}, torch::kDouble).to(dist.device());
  dist.broadcast({t}, 0);
  return int64_t(t.cpu().item<double>());
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, LlamaForCausalLM& model,
                            torch::optim::Optimizer& optimizer, const TrainerState& state,
                            int64_t keep_last, ShardedParts sharded) {
  const std::string root = run_dir + "/checkpoints";
  const std::string final_dir = root + "/" + step_name(state.step);
  const bool rank0 = !sharded.optimizer || sharded.dist->rank() == 0;
  const int64_t pid = sharded.optimizer ? rank0_pid(*sharded.dist) : ::getpid();
  const std::string tmp_dir = final_dir + ".tmp." + std::to_string(pid);
  std::error_code ec;
  if (rank0) {
    make_dirs(root);
    remove_stale_temps(root);  // parts of checkpoints whose writer was killed
    fs::remove_all(tmp_dir, ec);
  }
  if (sharded.optimizer) {
    // Every rank's slices into rank 0's temporary directory; rank 0 renames it once all are in.
    if (rank0) make_dirs(tmp_dir + "/optimizer");
    sharded.dist->barrier();
    sharded.optimizer->save_slices(tmp_dir + "/optimizer");
    fsync_dir(tmp_dir + "/optimizer");
    fault_kill_in_save(sharded.dist->rank(), state.step);
    sharded.dist->barrier();
    if (!rank0) return final_dir;
  }
  try {
    save_model(tmp_dir, model);
    if (!sharded.optimizer) {
      std::ostringstream opt_bytes;
      torch::serialize::OutputArchive archive;
      optimizer.save(archive);
      archive.save_to(opt_bytes);
      write_file_atomic(tmp_dir + "/optimizer.pt", opt_bytes.str());
    }
    save_safetensors(tmp_dir + "/rng.safetensors",
                     {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}});
    if (streams(state.run))
      save_safetensors(tmp_dir + "/selection.safetensors",
                       {{"stream_window", torch::tensor(state.stream_window, torch::kFloat)}});
    write_file_atomic(tmp_dir + "/trainer_state.json", trainer_state_json(state));
    fsync_dir(tmp_dir);
    remove_checkpoint_dir(final_dir);  // a checkpoint of the same step from an earlier, abandoned try
    fs::rename(tmp_dir, final_dir);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp_dir, ec);
    fail_file(final_dir, std::string("cannot write checkpoint: ") + e.code().message());
  } catch (...) {
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  fsync_dir(root);
  write_file_atomic(root + "/latest", step_name(state.step) + "\n");

  if (keep_last > 0) {
    std::vector<std::string> steps;
    for (auto& e : fs::directory_iterator(root)) {
      auto n = e.path().filename().string();
      if (e.is_directory() && n.rfind("step_", 0) == 0 && n.find(".tmp") == std::string::npos) steps.push_back(n);
    }
    std::sort(steps.begin(), steps.end());
    for (size_t i = 0; i + keep_last < steps.size(); ++i)
      if (steps[i] != step_name(state.step)) remove_checkpoint_dir(root + "/" + steps[i]);
  }
  return final_dir;
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  const std::string latest = run_dir + "/checkpoints/latest";
  if (!file_exists(latest)) return std::nullopt;
  const std::string name = parse_latest_pointer(read_file(latest), latest);
  const std::string dir = run_dir + "/checkpoints/" + name;
  if (!file_exists(dir + "/trainer_state.json"))
    fail_file(latest, "points at '" + name + "', which is not a complete checkpoint");
  return dir;
}

namespace {

// AdamW's moments from optimizer.pt (an unsharded run's) into `optimizer`, on the parameters' devices.
void load_full_optimizer(const std::string& opt_path, torch::optim::Optimizer& optimizer) {
  try {
    std::istringstream in(read_file(opt_path));
    torch::serialize::InputArchive archive;
    archive.load_from(in, torch::kCPU);  // a checkpoint written on a GPU loads anywhere
    optimizer.load(archive);
    // The moments belong beside their parameters, wherever this run keeps them.
    if (auto* adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer))
      for (auto& group : adamw->param_groups())
        for (auto& p : group.params()) {
          auto it = adamw->state().find(compat::optimizer_state_key(p));
          if (it == adamw->state().end()) continue;
          auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
          st.exp_avg(st.exp_avg().to(p.device()));
          st.exp_avg_sq(st.exp_avg_sq().to(p.device()));
          if (st.max_exp_avg_sq().defined()) st.max_exp_avg_sq(st.max_exp_avg_sq().to(p.device()));
        }
  } catch (const c10::Error& e) {
    fail_file(opt_path, std::string("cannot load optimizer state: ") + e.what_without_backtrace());
  }
}

// The optimizer state of either format into either kind of run (load_checkpoint's contract).
void load_optimizer(const std::string& ckpt_dir, LlamaForCausalLM& model, torch::optim::Optimizer& optimizer,
                    ShardedAdamW* sharded) {
  const std::string slices = ckpt_dir + "/optimizer";
  const bool sliced = file_exists(slices + "/manifest.json");
  if (sliced && sharded) return sharded->load_slices(slices);
  if (!sliced) load_full_optimizer(ckpt_dir + "/optimizer.pt", optimizer);
  if (!sliced && !sharded) return;
  // Between the formats, through torch's AdamW.
  auto* adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer);
  if (!adamw) fail("internal: optimizer state changes format through AdamW only");
  if (sliced) return load_sliced_into(slices, named_params(*model), *adamw);
  sharded->load_from(*adamw);
  adamw->state().clear();  // the whole moments were only a way to the slices
}

}  // namespace

TrainerState load_checkpoint(const std::string& ckpt_dir, LlamaForCausalLM& model,
                             torch::optim::Optimizer& optimizer, ShardedAdamW* sharded) {
  const std::string state_path = ckpt_dir + "/trainer_state.json";
  TrainerState s = parse_trainer_state(read_file(state_path), state_path);
  const auto config = load_config(ckpt_dir + "/config.json");
  if (to_json(config) != to_json(model->config))
    fail_file(ckpt_dir + "/config.json", "model config differs from the run's");
  const std::string weights = ckpt_dir + "/model.safetensors";
  assign_parameters(model, load_safetensors(weights).tensors, weights);

  load_optimizer(ckpt_dir, model, optimizer, sharded);
  if (streams(s.run)) {
    const std::string path = ckpt_dir + "/selection.safetensors";
    if (!file_exists(path))
      fail_file(path, "missing: a --selection-scope stream checkpoint keeps its window of recent scores there");
    auto saved = load_safetensors(path);
    if (!saved.tensors.count("stream_window")) fail_file(path, "missing tensor 'stream_window'");
    auto w = saved.tensors.at("stream_window").to(torch::kFloat).contiguous().reshape({-1});
    s.stream_window.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  }
  const std::string rng_path = ckpt_dir + "/rng.safetensors";
  auto rng = load_safetensors(rng_path);
  if (!rng.tensors.count("cpu")) fail_file(rng_path, "missing tensor 'cpu'");
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(rng.tensors.at("cpu"));
  return s;
}

void CheckpointPolicy::after_step(LlamaForCausalLM& model, torch::optim::Optimizer& opt, const TrainerState& state,
                                  bool last) {
  if (!due(state.step, last)) return;
  saved_dir_ = save_checkpoint(run_dir_, model, opt, state, keep_last_, sharded_);
  saved_step_ = state.step;
}

std::string CheckpointPolicy::on_stop(LlamaForCausalLM& model, torch::optim::Optimizer& opt, const TrainerState& state) {
  if (writes_ && saved_step_ != state.step) {
    saved_dir_ = save_checkpoint(run_dir_, model, opt, state, keep_last_, sharded_);
    saved_step_ = state.step;
  }
  return saved_dir_.empty() ? run_dir_ + "/checkpoints/" + step_name(state.step) : saved_dir_;
}

}  // namespace rho
