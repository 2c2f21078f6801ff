// Token selection: which tokens of a batch SLM trains on.
//
// Rounding: at ratio r over n candidate tokens, k = ceil(r * n - 1e-9) tokens are kept, at least
// 1 (so r = 1 keeps all n, and no batch trains on nothing).
// Ties: tokens whose score equals the k-th largest are taken in position order (lower flat index
// first) until k are kept, so the same scores always give the same selection.
// Cost: a k-th value search (torch::kthvalue, linear time), not a sort.
#pragma once
#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace rho {

// Where the top-k% is taken.
enum class SelectionScope {
  Sequence,    // each sequence keeps its own top k% (what the public third-party code does)
  MicroBatch,  // over one micro-batch
  Batch,       // over the whole optimizer batch: all gradient-accumulation micro-batches (and,
               // data-parallel, all ranks). The default: it is the paper's "batch", and the
               // tokens chosen do not depend on how the batch is split into micro-batches.
  Stream,      // against a running threshold: a token is kept when its score reaches the k-th
               // largest of the last M scores seen (this step's included), so one batch may keep
               // more or fewer than k% while the share kept stays near k over time
};

// What a token is ranked by (higher = kept first).
enum class ScoreFunction {
  ExcessLoss,     // L_theta - L_ref: learnable and target-like tokens not yet learnt (Rho-1)
  ReferenceLoss,  // -L_ref: tokens the reference model finds easiest, whatever the model knows
  CurrentLoss,    // L_theta: the tokens the model currently finds hardest
  Random,         // uniform random scores: the same number of tokens, chosen blindly
};

// How the ranked tokens enter the loss.
enum class TokenWeighting {
  TopK,     // the k% best-scored tokens weigh alike, the rest nothing (Rho-1)
  Softmax,  // every token, weighted by softmax(score / T) over the scope (no gradient through it)
};

// Whether a selection sees the whole optimizer step at once (every micro-batch, every rank).
inline bool selects_over_step(SelectionScope s) { return s == SelectionScope::Batch || s == SelectionScope::Stream; }

SelectionScope parse_scope(const std::string& s);  // "sequence" | "micro-batch" | "batch" | "stream"
ScoreFunction parse_score_function(const std::string& s);  // "excess" | "ref-loss" | "current-loss" | "random"
std::string to_string(SelectionScope s);
std::string to_string(ScoreFunction f);

// Softmax weights along the last dimension of `scores`: softmax(scores / temperature), each row
// summing to 1 (so uniform scores give 1/n, the mean loss of CLM).
torch::Tensor softmax_weights(const torch::Tensor& scores, double temperature);

int64_t selected_count(int64_t n, double ratio);

struct Selection {
  torch::Tensor mask;       // bool, same shape as the scores
  torch::Tensor threshold;  // (..., 1): the k-th largest score of each row
};

// Keeps the k largest scores along the last dimension of `scores` (each row on its own).
Selection select_top_k(const torch::Tensor& scores, int64_t k);

// Scores (B, T) from the model's per-token losses and the reference's, both detached.
// `random_seed` seeds the Random function (so a resumed run draws the same numbers).
torch::Tensor token_scores(ScoreFunction f, const torch::Tensor& model_losses, const torch::Tensor& ref_losses,
                           uint64_t random_seed);

}  // namespace rho
