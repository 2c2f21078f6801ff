// Validation during training: the mean per-token loss over the first `--val-batches` x B windows
// of the validation shards, in order, computed by measure/token_losses.h, the path `rho eval loss`
// takes (so `rho eval loss` on the same windows gives the same number). It decides its own
// interval: every `--val-every` steps and after the last step. Data-parallel ranks share the
// windows out and agree on the result.
#pragma once
#include <cmath>
#include <memory>
#include <optional>

#include "data/loader.h"
#include "measure/token_losses.h"
#include "model/compute.h"
#include "model/llama.h"
#include "train/options.h"

namespace rho {

class Distributed;

class Validator {
 public:
  // Opens opts.val_data (nothing to do without it); UserError when its tokenizer is not
  // `tokenizer` (the training shards').
  Validator(const TrainOptions& opts, const TokenizerId& tokenizer, const Compute& compute, Distributed* dist);
  // The loss when validation is due after `step`, else nullopt.
  std::optional<double> after_step(LlamaForCausalLM& model, int64_t step, bool last);
  double loss(LlamaForCausalLM& model);  // now, whatever the step
  double last() const { return last_; }   // NaN before the first validation
  int64_t windows() const { return windows_; }

 private:
  std::shared_ptr<const PackedDataset> data_;
  int64_t every_ = 0, windows_ = 0;
  MeasureOptions eval_;
  Distributed* dist_;
  double last_ = std::nan("");
};

}  // namespace rho
