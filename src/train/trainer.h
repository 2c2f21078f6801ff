// The training run: data -> model -> per-step objective and AdamW (train/step.h), with its
// components each deciding its own interval: validation (train/validator.h), the step log
// (train/step_log.h) and checkpoints (train/checkpoint.h). Settings: train/options.h.
#pragma once
#include <string>

#include "train/options.h"
#include "train/step.h"

namespace rho {

class Distributed;

struct TrainResult {
  int64_t steps = 0;
  double final_train_loss = 0, final_val_loss = 0;
  int64_t tokens_seen = 0, tokens_trained = 0;
  double seconds = 0;
  std::string final_dir;  // <out_dir>/final: the trained model in HF layout
  int stopped_by = 0;     // SIGINT/SIGTERM that ended the run early (after a checkpoint), or 0
  int64_t bad_steps = 0;  // steps skipped for a non-finite loss or gradient
};

// `dist`: the process group of a data-parallel run (opts.rank and opts.world must match it).
TrainResult train(const TrainOptions& opts, Distributed* dist = nullptr);

}  // namespace rho
