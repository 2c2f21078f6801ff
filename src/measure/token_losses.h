// Token losses: the one place a model's per-token next-token losses are computed. Training's step
// (with gradients), the online reference, validation, `rho eval`, `rho score`, the selected-token
// view, token dynamics and the benchmark all come here, so their numbers agree and the head
// options (fused chunked head, or the plain full-logits path) mean the same everywhere. The fused
// head never holds the (B, T, V) logits (V = 32,000 at T = 2,048 would be 262 MB a sequence).
//
// Legend: B windows per forward pass, T predictions per window (a window holds T+1 tokens and
// is cut by data/loader.h's cut_windows), N tokens, C hidden size.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "data/loader.h"
#include "model/compute.h"
#include "model/fused_head.h"
#include "model/llama.h"

namespace rho {

class Distributed;

// Per-token losses (N) of hidden states (N, C) predicting targets (N): the head branch (fused or
// plain) of every path below. Differentiable; fp32.
torch::Tensor head_token_losses(LlamaForCausalLM& model, const torch::Tensor& hidden, const torch::Tensor& targets,
                                const HeadOptions& head);

// The model's per-token next-token losses (B, T) for inputs/targets (B, T) on the model's device,
// with gradients when grad mode is on (training's step).
torch::Tensor model_token_losses(LlamaForCausalLM& model, const torch::Tensor& inputs,
                                 const torch::Tensor& targets, const HeadOptions& head = {});

// How a model that is measured, not trained, is run: no gradients, fp32 losses.
struct MeasureOptions {
  int64_t batch = 8;   // B: most windows per forward pass
  HeadOptions head;     // the fused head (default), or the plain full-logits path
  Compute compute;      // the model's device; bf16: autocast for fp32 weights (bf16 weights need none)
};

// One model input: the model reads tokens[0 .. n-2] and predicts tokens[1 .. n-1]; the losses of
// targets at positions >= first_scored count.
struct ScoredSequence {
  std::vector<int32_t> tokens;
  int64_t first_scored = 1;
  int64_t scored() const { return int64_t(tokens.size()) - first_scored; }
};

// Losses (B, T) of one batch, inputs and targets (B, T) int64: fp32, no gradient, left on the
// compute device (the online reference's use: selection runs there).
torch::Tensor device_batch_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                                  const MeasureOptions& opts);
// The same, on the CPU.
torch::Tensor batch_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                           const MeasureOptions& opts);

// The losses of every scored target of `seqs`, in order (sequence by sequence, position by
// position). Runs of equal-length sequences share a forward pass, up to B at a time (attention
// has no padding mask). UserError when a token id is outside the model's vocabulary.
std::vector<float> sequence_losses(LlamaForCausalLM& model, const std::vector<ScoredSequence>& seqs,
                                   const MeasureOptions& opts);

// The scored losses of sequences that come in groups sharing their first tokens (the choices of a
// multiple-choice item): each group's longest common prefix is run once, its keys and values are
// copied to every member, and only the members' remainders are run (right-padded; attention is
// causal, so padding after a remainder never reaches it). Groups whose prefixes have equal length
// share forward passes, up to opts.batch groups and about `max_tokens` positions. Returns, for
// every sequence of every group in order (group by group), its scored losses.
std::vector<std::vector<float>> shared_prefix_losses(LlamaForCausalLM& model,
                                                     const std::vector<std::vector<ScoredSequence>>& groups,
                                                     const MeasureOptions& opts, int64_t max_tokens = 16384);

// Windows [first, first + count) of `data`, in order, B at a time: `sink(w, losses)` receives
// window w's T losses. Batch k (windows first + kB ...) is run by rank k % world, the split the
// data-parallel loader uses, so each rank's sink sees only its own windows.
void window_losses(LlamaForCausalLM& model, const PackedDataset& data, int64_t first, int64_t count,
                   const MeasureOptions& opts, const std::function<void(int64_t, const float*)>& sink, int rank = 0,
                   int world = 1);

// Mean per-token loss over windows [0, count) of `data` (every rank's share, summed with `dist`).
double dataset_loss(LlamaForCausalLM& model, const PackedDataset& data, int64_t count, const MeasureOptions& opts,
                    Distributed* dist = nullptr);

}  // namespace rho
