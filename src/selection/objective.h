// The SLM objective: per-token losses of the model being trained, reference losses (offline
// score files or an online reference model), scores, top-k% selection, and the loss weights
// that make the step's loss the mean over the kept tokens:
//   L_SLM = (1 / k) * sum_i I(x_i kept) * L_theta(x_i),   k = tokens kept in the scope.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/loader.h"
#include "measure/token_losses.h"
#include "model/llama.h"
#include "scoring/score_set.h"
#include "selection/select.h"

namespace rho {

class Distributed;

struct SelectionOptions {
  double ratio = 0.6;  // k%: the paper's 1B setting
  SelectionScope scope = SelectionScope::Batch;
  ScoreFunction score = ScoreFunction::ExcessLoss;
  std::string ref_scores;       // directory of score files (offline, the normal way)
  std::string ref_model;        // model directory run inside each step (online)
  std::string ref_tokenizer;    // the tokenizer a --cross-tokenizer reference scored with (offline only)
  double start_fraction = 0.0;  // plain CLM for this fraction of the steps, then SLM
  TokenWeighting weighting = TokenWeighting::TopK;
  double temperature = 1.0;  // of the softmax weighting
  // M of the stream scope: the scores the running threshold sees, at least one step's tokens (so
  // k = 100% keeps every token); 0 in the options: 16 steps' worth (TrainOptions resolves it).
  int64_t stream_window = 0;
  // Excess and reference-loss scores read reference losses; current-loss and random do not.
  bool needs_reference() const { return score == ScoreFunction::ExcessLoss || score == ScoreFunction::ReferenceLoss; }
};

// Reference losses for a batch's targets: (B, T) float32, no gradient.
class Reference {
 public:
  virtual ~Reference() = default;
  virtual torch::Tensor losses(const Batch& b) = 0;
};
// `ref_tokenizer`: what the score files must record as their reference's tokenizer (ScoreSet).
std::unique_ptr<Reference> offline_reference(const PackedDataset& data, const std::string& scores_dir,
                                             uint64_t ref_tokenizer = 0);
std::unique_ptr<Reference> offline_reference(ScoreSet scores, int64_t seq_len);
// A reference model run inside each step, measured as every model that is not trained is
// (measure/token_losses.h): `opts` carries the training run's head options and compute.
std::unique_ptr<Reference> online_reference(LlamaForCausalLM model, MeasureOptions opts);

struct SelectionStats {
  int64_t candidates = 0, selected = 0;
  double loss_selected_sum = 0, loss_unselected_sum = 0;
  double threshold_sum = 0;  // of the k-th largest score, per selection row
  int64_t thresholds = 0;
  double selected_checksum = 0;  // identifies the set of kept tokens (by shard position)
  // The three sums above as they stand on the losses' device (threshold, kept loss, dropped loss:
  // (3) double), not yet read back: a step reads the device once, at its end (train/step.h).
  torch::Tensor pending;
  void add(const SelectionStats& o);
  // Adds the pending sums, read back by the caller as 3 doubles, into the fields.
  void settle(const double* sums);
};

class SlmObjective {
 public:
  // `opts` as TrainOptions::validate() accepts them; a reference exactly when the score needs one
  // (an internal error otherwise: validate() refuses such settings by flag before anything loads).
  SlmObjective(SelectionOptions opts, std::unique_ptr<Reference> reference, uint64_t seed);
  const SelectionOptions& options() const { return opts_; }
  // Data parallel: with the batch scope the top-k% is taken over the global batch (every
  // rank's micro-batches, gathered), so the tokens kept do not depend on the process count.
  // Rank r's micro-batch a is the global batch's micro-batch a * world + r (see DataLoader).
  void set_distributed(Distributed* dist) { dist_ = dist; }
  // False during the delayed start (the first start_fraction of max_steps).
  bool active(int64_t step, int64_t max_steps) const;

  // Loss weights (B, T) for `batches`: 1/k on the kept tokens (top-k weighting), or the
  // softmax of the scores over the scope (softmax weighting); either way they sum to 1 over a
  // scope, so a uniform weighting is CLM's mean. `batches`: the whole optimizer batch when the
  // scope selects over the step (selects_over_step), else one micro-batch. `losses` are the model's per-token losses for them,
  // detached. `micro_index` is the first batch's index within the step (on this rank),
  // `micro_per_step` the step's micro-batch count over all ranks.
  // sum over the step's micro-batches of sum(weights * losses) is the SLM loss.
  std::vector<torch::Tensor> weights(const std::vector<torch::Tensor>& losses,
                                     const std::vector<const Batch*>& batches, int64_t step,
                                     int64_t micro_index, int64_t micro_per_step, SelectionStats& stats);

  // At most how many tokens of `w`, one micro-batch's weights from the last weights() call,
  // are nonzero: known on the host from the ratio and the batch (the step's k for the batch and
  // stream scopes), so the head's backward needs no search for them (model/fused_head.h).
  int64_t kept_at_most(const torch::Tensor& w) const;

  // The stream scope's window: the latest scores (at most --stream-window, oldest first). A
  // checkpoint keeps it, so a resumed run continues with the threshold it had.
  std::vector<float> stream_window() const;
  void set_stream_window(const std::vector<float>& scores);

  // The selection mask for `batches` (as weights() decides it, exposed for tests and analysis).
  std::vector<torch::Tensor> select(const std::vector<torch::Tensor>& losses,
                                    const std::vector<const Batch*>& batches, int64_t step,
                                    int64_t micro_index, SelectionStats* stats = nullptr);

 private:
  struct Kept;
  // Scores (B, T) of each micro-batch by the score function.
  std::vector<torch::Tensor> scores(const std::vector<torch::Tensor>& losses, const std::vector<const Batch*>& batches,
                                    int64_t step, int64_t micro_index) const;
  // The top-k% of `scores` within the scope (all ranks' for the batch scope).
  Kept keep(const std::vector<torch::Tensor>& scores, bool with_stats);
  // The stream scope's selection: against the k-th largest of the window of recent scores.
  Kept keep_stream(const std::vector<torch::Tensor>& scores, bool with_stats);
  // Softmax weighting's weights (every token trains), and its statistics into `stats`.
  std::vector<torch::Tensor> soft_weights(const std::vector<torch::Tensor>& losses,
                                          const std::vector<const Batch*>& batches, int64_t step,
                                          int64_t micro_index, int64_t micro_per_step, SelectionStats& stats);
  // The step's scores of every rank, flat (1, N), in the one-process order (micro-batch, rank,
  // token), so that ties break by the same global index whatever the process count.
  torch::Tensor global_scores(const std::vector<torch::Tensor>& scores) const;
  // This rank's micro-batches of a (1, N) tensor in global_scores' order, each shaped as `scores`.
  std::vector<torch::Tensor> own_parts(const torch::Tensor& global, const std::vector<torch::Tensor>& scores) const;

  SelectionOptions opts_;
  std::unique_ptr<Reference> reference_;
  uint64_t seed_;
  Distributed* dist_ = nullptr;
  int64_t global_selected_ = 0;  // kept tokens in the last batch- or stream-scope selection, all ranks
  torch::Tensor window_;          // stream scope: (n <= M) the latest scores, oldest first
};

}  // namespace rho
