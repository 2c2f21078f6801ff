#include "train/validator.h"

#include "common/error.h"

namespace rho {

Validator::Validator(const TrainOptions& opts, const TokenizerId& tokenizer, const Compute& compute, Distributed* dist)
    : every_(opts.val_every), dist_(dist) {
  if (opts.val_data.empty()) return;
  data_ = std::make_shared<const PackedDataset>(list_shards(opts.val_data), opts.seq_len, tokenizer.fingerprint);
  windows_ = std::min(opts.val_batches * opts.micro_batch, data_->num_windows());
  eval_.batch = opts.micro_batch;
  eval_.head = opts.head;
  eval_.compute = compute;
}

std::optional<double> Validator::after_step(LlamaForCausalLM& model, int64_t step, bool last) {
  if (!data_ || !(last || (every_ > 0 && step % every_ == 0))) return std::nullopt;
  return loss(model);
}

double Validator::loss(LlamaForCausalLM& model) {
  if (!data_) fail("internal: validation without validation data");
  model->eval();
  last_ = dataset_loss(model, *data_, windows_, eval_, dist_);
  model->train();
  return last_;
}

}  // namespace rho
