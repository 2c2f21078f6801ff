// Training checkpoints. A checkpoint is a directory
//   <run>/checkpoints/step_0000100/
//     config.json, model.safetensors   -- HF layout: the directory is also a model directory
//     optimizer.pt                      -- AdamW state (libtorch archive)
//     rng.safetensors                   -- torch's CPU generator state
//     trainer_state.json                -- step, data cursor, token counts, run settings
// written under a temporary name and renamed whole, then <run>/checkpoints/latest (the name of
// the newest complete checkpoint) is replaced atomically. A crash at any moment leaves the
// previous checkpoint and `latest` intact.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/llama.h"
#include "train/trainer_state.h"

namespace rho {

// Writes a checkpoint for state.step and points `latest` at it; returns its directory. Keeps
// the `keep_last` newest checkpoints (0 keeps all).
std::string save_checkpoint(const std::string& run_dir, LlamaForCausalLM& model,
                            torch::optim::Optimizer& optimizer, const TrainerState& state,
                            int keep_last = 0);

// The directory `latest` points at, or nullopt when the run has none.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Restores model weights, optimizer state and RNG state; returns the trainer state.
// UserError naming the file when a part is missing or does not fit the model.
TrainerState load_checkpoint(const std::string& ckpt_dir, LlamaForCausalLM& model,
                             torch::optim::Optimizer& optimizer);

}  // namespace rho
