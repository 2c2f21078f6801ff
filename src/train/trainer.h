// The training loop: data -> model -> loss -> AdamW, with validation, metrics, checkpoints and
// exact resume. The model (model/), the data (data/) and the objective live elsewhere; this file
// only sequences them.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "model/fused_head.h"
#include "model/llama.h"
#include "selection/objective.h"

namespace rho {

class Distributed;

struct OptimOptions {
  double lr = 3e-4;        // peak learning rate
  double min_lr = 3e-5;    // cosine floor
  int64_t warmup_steps = 10;
  int64_t max_steps = 100;
  double weight_decay = 0.1;  // applied to matrices only, not to norm weights
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;  // max global L2 norm; 0 disables
};

struct TrainOptions {
  std::string preset = "debug";  // model shape when starting from scratch
  std::string init_from;         // model directory to continue from (continual pretraining)
  std::vector<std::string> train_data, val_data;  // shard files or directories
  std::string objective = "clm";  // "clm" or "slm"
  SelectionOptions selection;      // with objective "slm"
  HeadOptions head;                // fused chunked LM head + loss (default) or the plain path
  int64_t seq_len = 256;
  int64_t micro_batch = 8;
  int64_t grad_accum = 1;
  uint64_t seed = 1;
  OptimOptions optim;
  int64_t val_every = 50;    // steps; 0 = only at the end
  int64_t val_batches = 8;   // micro-batches of the validation set, in order
  int64_t log_every = 10;
  int64_t ckpt_every = 0;    // steps; 0 = only at the end
  int keep_last = 2;
  std::string out_dir;       // checkpoints/, metrics.jsonl, final/
  bool resume = false;
  int64_t stop_after = 0;    // stop (with a checkpoint) once this step is reached; 0 = run to the end
  int64_t max_bad_steps = 5;  // non-finite loss/gradient steps in a row before the run stops
  int rank = 0, world = 1;

  nlohmann::json to_json() const;
  void validate() const;  // UserError with the valid range of a bad setting
};

struct StepStats {
  double loss = 0;       // mean per-token loss over all the step's tokens (comparable across objectives)
  double grad_norm = 0;  // before clipping
  bool skipped = false;  // loss or gradient not finite: no optimizer update was made
  int64_t tokens_seen = 0, tokens_trained = 0;
  SelectionStats selection;  // SLM steps only
};

// AdamW with weight decay on matrices only.
std::unique_ptr<torch::optim::AdamW> make_optimizer(LlamaForCausalLM& model, const OptimOptions& o);

// Forward and backward of one step's micro-batches, gradients left in the parameters (the part
// of train_step that the objective decides; tests compare objectives here).
// With `world` > 1 the losses are scaled for a global batch of world x micro_batches (this
// rank's share of a gradient that the ranks then sum).
StepStats accumulate_gradients(LlamaForCausalLM& model, const std::vector<Batch>& micro_batches,
                               SlmObjective* slm = nullptr, int64_t step = 0, const HeadOptions& head = {},
                               int64_t world = 1);

// One optimizer step over `micro_batches` (gradient accumulation): forward, per-token loss,
// backward; clip; AdamW at learning rate `lr`. A step whose loss or gradient norm is not finite
// makes no update (gradients zeroed, `skipped` set). With `slm` the loss is the SLM objective's
// (selected tokens only), else plain CLM (the mean over all tokens). `step` seeds random scores.
// With `dist`, gradients are summed across ranks before clipping, and the returned stats
// cover the global batch.
StepStats train_step(LlamaForCausalLM& model, torch::optim::AdamW& opt,
                     const std::vector<Batch>& micro_batches, double lr, double grad_clip,
                     SlmObjective* slm = nullptr, int64_t step = 0, const HeadOptions& head = {},
                     Distributed* dist = nullptr);

// Mean per-token loss over the first `batches` micro-batches of `data` in order (no shuffle).
// With `dist` the batches are shared out among the ranks and the result is the same everywhere.
double validation_loss(LlamaForCausalLM& model, const std::shared_ptr<const PackedDataset>& data,
                       int64_t micro_batch, int64_t batches, const HeadOptions& head = {},
                       Distributed* dist = nullptr);

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
