// `rho train --master-weights fp32`: the model's parameters are bf16, forward and backward alike,
// and fp32 copies of them (the masters) are what AdamW updates, as Megatron keeps its weights.
// Without it rho keeps fp32 parameters and autocast casts each matmul's weight to bf16 in every
// forward (and keeps those copies for backward).
//   - A hook on each bf16 parameter adds its incoming gradient into its master's fp32 .grad, so
//     gradient accumulation over micro-batches sums in fp32; the bf16 gradient autograd then
//     leaves in .grad is dropped at the next hook, so at most one is held at a time.
//   - AdamW (and clipping, and the data-parallel all-reduce) see the masters and their .grad;
//     write_back() copies the updated masters into the bf16 parameters after each step.
//   - Checkpoints and the final model hold the masters (Exposed), in the format of an fp32 run,
//     so either kind of run resumes the other's checkpoints.
// Bytes per parameter: 2 (bf16 weights) + 4 (masters) + 4 (fp32 gradients), against 4 + 4 and the
// bf16 copies autocast keeps for backward (2, per forward).
#pragma once
#include <vector>

#include <torch/torch.h>

#include "model/llama.h"

namespace rho {

// UserError for --master-weights fp32 in a run that is not bf16 (rho train and rho bench).
void require_bf16_for_master_weights(bool bf16);

class MasterWeights;
// The tensors AdamW updates and whose .grad holds a step's gradient: the model's parameters, or
// with `master` its fp32 masters (in the same order).
std::vector<torch::Tensor> trained_tensors(LlamaForCausalLM& model, const MasterWeights* master);

class MasterWeights {
 public:
  // Takes the model's fp32 parameters as the masters and makes the parameters bf16 copies.
  explicit MasterWeights(LlamaForCausalLM& model);
  ~MasterWeights();
  MasterWeights(const MasterWeights&) = delete;
  MasterWeights& operator=(const MasterWeights&) = delete;

  // fp32, in model->parameters() order; their .grad holds the step's gradient.
  const std::vector<torch::Tensor>& masters() const { return masters_; }
  // After a backward: drops the bf16 gradient autograd left in the last parameters it reached.
  void after_backward();
  // After an optimizer step: the bf16 parameters take the updated masters' values.
  void write_back();
  int64_t master_bytes() const;

  // While alive, the model's parameters are the masters themselves (the same storage): a
  // checkpoint saves them and a resume loads into them. On leaving, the parameters are bf16
  // again, refreshed from the masters. A null MasterWeights makes it do nothing.
  class Exposed {
   public:
    explicit Exposed(MasterWeights* m);
    ~Exposed();
    Exposed(const Exposed&) = delete;
    Exposed& operator=(const Exposed&) = delete;

   private:
    MasterWeights* m_;
  };

 private:
  void on_grad(size_t k, const torch::Tensor& incoming);

  std::vector<torch::Tensor> params_;   // the model's parameters (bf16)
  std::vector<torch::Tensor> bf16_;     // their bf16 data, kept while Exposed swaps it out
  std::vector<torch::Tensor> masters_;  // fp32
  std::vector<unsigned> hooks_;
  std::vector<size_t> hooked_;          // parameters whose bf16 .grad autograd has filled since the last drop
};

}  // namespace rho
