// Training checkpoints. A checkpoint is a directory
//   <run>/checkpoints/step_0000100/
//     config.json, model.safetensors   -- HF layout: the directory is also a model directory
//     optimizer.pt                      -- AdamW state (libtorch archive), or with --shard:
//     optimizer/manifest.json, optimizer/rank_NNNNN.safetensors  -- each rank's slices of it
//                                          (dist/sharded_optimizer.h), readable at any world size
//     rng.safetensors                   -- torch's CPU generator state
//     trainer_state.json                -- step, data cursor, token counts, run settings
// written under a temporary name and renamed whole, then <run>/checkpoints/latest (the name of
// the newest complete checkpoint) is replaced atomically. A crash at any moment leaves the
// previous checkpoint and `latest` intact. A sharded run's ranks all write into rank 0's
// temporary directory and meet at a barrier before rank 0 renames it, so a rank killed during a
// save leaves the temporary unrenamed.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/llama.h"
#include "train/trainer_state.h"

namespace rho {

class Distributed;
class ShardedAdamW;

// Where a --shard run's optimizer state is: every rank writes its slices, rank 0 the rest.
struct ShardedParts {
  ShardedAdamW* optimizer = nullptr;
  Distributed* dist = nullptr;
};

// Writes a checkpoint for state.step and points `latest` at it; returns its directory. Keeps
// the `keep_last` newest checkpoints (0 keeps all).
// With `sharded`, every rank calls it (the optimizer's slices instead of optimizer.pt).
std::string save_checkpoint(const std::string& run_dir, LlamaForCausalLM& model,
                            torch::optim::Optimizer& optimizer, const TrainerState& state,
                            int64_t keep_last = 0, ShardedParts sharded = {});

// The directory `latest` points at, or nullopt when the run has none.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Restores model weights, optimizer state and RNG state; returns the trainer state.
// UserError naming the file when a part is missing or does not fit the model. Either kind of
// optimizer state loads into either kind of run: slices of any world size are re-sliced for
// `sharded` or consolidated into `optimizer`; optimizer.pt is sliced for `sharded`.
TrainerState load_checkpoint(const std::string& ckpt_dir, LlamaForCausalLM& model,
                             torch::optim::Optimizer& optimizer, ShardedAdamW* sharded = nullptr);

// When a run writes checkpoints: every `every` steps (0: never on a schedule), after the last
// step, and when a stop signal ends the run early (unless that step's checkpoint exists). Only
// rank 0 writes, unless the run is sharded: then every rank writes its slices.
class CheckpointPolicy {
 public:
  // `saved_step`: the step of the checkpoint the run resumed from, or -1.
  CheckpointPolicy(std::string run_dir, int64_t every, int64_t keep_last, bool rank0, int64_t saved_step,
                   ShardedParts sharded = {})
      : run_dir_(std::move(run_dir)), every_(every), keep_last_(keep_last), saved_step_(saved_step),
        sharded_(sharded), writes_(rank0 || sharded.optimizer) {}
  // Whether after_step writes a checkpoint for this step (what goes into it can be gathered first).
  bool due(int64_t step, bool last) const { return writes_ && (last || (every_ > 0 && step % every_ == 0)); }
  void after_step(LlamaForCausalLM& model, torch::optim::Optimizer& opt, const TrainerState& state, bool last);
  // The checkpoint a stopped run continues from: written now, or the one this step already has.
  std::string on_stop(LlamaForCausalLM& model, torch::optim::Optimizer& opt, const TrainerState& state);

 private:
  std::string run_dir_;
  int64_t every_, keep_last_;
  int64_t saved_step_;
  ShardedParts sharded_;
  bool writes_;
  std::string saved_dir_;
};

}  // namespace rho
