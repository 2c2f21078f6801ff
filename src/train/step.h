// One optimizer step: forward and per-token loss of each micro-batch, the objective (CLM, or SLM's
// selection), backward, the gradient all-reduce across ranks, clipping and AdamW. The trainer
// (train/trainer.h) calls this once per step; tests compare objectives on it directly.
//
// Legend: A micro-batches per step (gradient accumulation), B sequences each, T tokens each.
#pragma once
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "data/loader.h"
#include "model/fused_head.h"
#include "model/llama.h"
#include "selection/objective.h"
#include "train/options.h"

namespace rho {

class Distributed;
class GradientSync;
class MasterWeights;
class ShardedAdamW;

struct StepStats {
  double loss = 0;       // mean per-token loss over all the step's tokens (comparable across objectives)
  double grad_norm = 0;  // before clipping
  bool skipped = false;  // loss or gradient not finite: no optimizer update was made
  int64_t tokens_seen = 0, tokens_trained = 0;
  SelectionStats selection;  // SLM steps only
};

// How a step runs, beyond its data.
struct StepSettings {
  SlmObjective* slm = nullptr;  // SLM's objective; nullptr: CLM
  int64_t step = 0;             // the step's index (seeds random scores, so a resume repeats them)
  HeadOptions head;
  bool bf16 = false;            // bf16 autocast for the forward passes (model/compute.h)
  Distributed* dist = nullptr;  // data parallel: gradients and statistics summed across ranks
  // Data parallel: sums the gradients while backward runs (dist/grad_reducer.h); without it they
  // are summed after backward.
  GradientSync* reducer = nullptr;
  // --shard: ZeRO's AdamW (dist/sharded_optimizer.h) clips and steps instead of the AdamW passed
  // to train_step; it is also the run's `reducer`.
  ShardedAdamW* sharded = nullptr;
  // --master-weights fp32 (train/master_weights.h): gradients gather in its fp32 masters, which
  // the AdamW passed to train_step updates; the bf16 parameters take their values after the step.
  MasterWeights* master = nullptr;
};

// AdamW with weight decay on matrices only, over the model's parameters or the tensors standing
// for them (--master-weights' fp32 masters, in the same order).
std::unique_ptr<torch::optim::AdamW> make_optimizer(const std::vector<torch::Tensor>& params, const OptimOptions& o);
inline std::unique_ptr<torch::optim::AdamW> make_optimizer(LlamaForCausalLM& model, const OptimOptions& o) {
  return make_optimizer(model->parameters(), o);
}

// Forward and backward of one step's micro-batches, gradients left in the parameters (the part
// of train_step that the objective decides). The batches must be on the model's device.
// With `world` > 1 the losses are scaled for a global batch of world x micro_batches (this
// rank's share of a gradient that the ranks then sum); settings.dist is not used here.
StepStats accumulate_gradients(LlamaForCausalLM& model, const std::vector<Batch>& micro_batches,
                               const StepSettings& settings = {}, int64_t world = 1);

// One optimizer step over `micro_batches` (gradient accumulation): forward, per-token loss,
// backward; clip; AdamW at learning rate `lr`. A step whose loss or gradient norm is not finite
// makes no update (gradients zeroed, `skipped` set). With settings.slm the loss is the SLM
// objective's (selected tokens only), else plain CLM (the mean over all tokens). With
// settings.dist, gradients are summed across ranks before clipping, and the returned stats cover
// the global batch. One process reads the device once, at the step's end (loss, gradient norm and
// the selection's sums together); with several it reads three times: the local sums, the
// all-reduced statistics, and the gradient norm after the gradients' all-reduce. SLM's backward
// also learns how many rows each micro-batch keeps (fused_head.h).
StepStats train_step(LlamaForCausalLM& model, torch::optim::AdamW& opt,
                     const std::vector<Batch>& micro_batches, double lr, double grad_clip,
                     const StepSettings& settings = {});

}  // namespace rho
