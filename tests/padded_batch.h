// The check both the CPU families test and the CUDA set make of left-padded batches (KVCache::pad).
#pragma once
#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "model/llama.h"

namespace rho_test {

// Prompts (1-D int64, on the CPU) left-padded into one batch on `batched`'s device, then the
// tokens of `next` (R, steps) decoded one a step: the largest absolute difference between a row's
// last logits, at the prompt and at every step, and those of its prompt run alone on `alone`.
inline double padded_batch_error(rho::LlamaForCausalLM& batched, rho::LlamaForCausalLM& alone,
                                 const std::vector<torch::Tensor>& prompts, const torch::Tensor& next) {
  torch::NoGradGuard no_grad;
  int64_t L = 0;
  for (auto& p : prompts) L = std::max(L, p.size(0));
  rho::KVCache cache;
  std::vector<torch::Tensor> rows;
  for (auto& p : prompts) {
    rows.push_back(torch::cat({torch::zeros({L - p.size(0)}, torch::kLong), p}));
    cache.pad.push_back(L - p.size(0));
  }
  const auto on = [](rho::LlamaForCausalLM& m, const torch::Tensor& ids, rho::KVCache* c) {  // last logits (B, V)
    auto logits = m->logits(m->hidden_states(ids.to(m->device()), c));
    return logits.select(1, logits.size(1) - 1).to(torch::kCPU, torch::kDouble);
  };
  std::vector<torch::Tensor> got{on(batched, torch::stack(rows), &cache)};
  for (int64_t s = 0; s < next.size(1); ++s) got.push_back(on(batched, next.slice(1, s, s + 1), &cache));
  double err = 0;
  for (size_t r = 0; r < prompts.size(); ++r) {
    rho::KVCache own;
    const auto row = int64_t(r);
    std::vector<torch::Tensor> want{on(alone, prompts[r].unsqueeze(0), &own)};
    for (int64_t s = 0; s < next.size(1); ++s) want.push_back(on(alone, next.slice(0, row, row + 1).slice(1, s, s + 1), &own));
    for (size_t s = 0; s < got.size(); ++s) err = std::max(err, (got[s][row] - want[s][0]).abs().max().item<double>());
  }
  return err;
}

}  // namespace rho_test
