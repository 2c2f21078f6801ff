#include "selection/objective.h"

#include "dist/distributed.h"

#include "common/error.h"

namespace rho {
namespace {

class OfflineReference : public Reference {
 public:
  OfflineReference(ScoreSet scores, int64_t T) : scores_(std::move(scores)), T_(T) {}
  torch::Tensor losses(const Batch& b) override { return scores_.lookup(b.windows, T_); }

 private:
  ScoreSet scores_;
  int64_t T_;
};

class OnlineReference : public Reference {
 public:
  OnlineReference(LlamaForCausalLM model, MeasureOptions opts) : model_(std::move(model)), opts_(std::move(opts)) {
    model_->eval();
  }
  torch::Tensor losses(const Batch& b) override { return device_batch_losses(model_, b.inputs, b.targets, opts_); }

 private:
  LlamaForCausalLM model_;
  MeasureOptions opts_;
};

}  // namespace

std::unique_ptr<Reference> offline_reference(const PackedDataset& data, const std::string& scores_dir,
                                             uint64_t ref_tokenizer) {
  return std::make_unique<OfflineReference>(ScoreSet(data, scores_dir, ref_tokenizer), data.seq_len());
}

std::unique_ptr<Reference> offline_reference(ScoreSet scores, int64_t seq_len) {
  return std::make_unique<OfflineReference>(std::move(scores), seq_len);
}

std::unique_ptr<Reference> online_reference(LlamaForCausalLM model, MeasureOptions opts) {
  return std::make_unique<OnlineReference>(std::move(model), std::move(opts));
}

void SelectionStats::add(const SelectionStats& o) {
  candidates += o.candidates;
  selected += o.selected;
  loss_selected_sum += o.loss_selected_sum;
  loss_unselected_sum += o.loss_unselected_sum;
  threshold_sum += o.threshold_sum;
  thresholds += o.thresholds;
  selected_checksum += o.selected_checksum;
  if (o.pending.defined()) pending = pending.defined() ? pending + o.pending : o.pending;
}

void SelectionStats::settle(const double* sums) {
  threshold_sum += sums[0];
  loss_selected_sum += sums[1];
  loss_unselected_sum += sums[2];
  pending = torch::Tensor();
}

// A sum over the kept tokens of a 20-bit hash of (shard, position): equal sets give equal sums
// (and any process split gives the same total), different sets almost surely differ.
static double selection_checksum(const torch::Tensor& mask, const Batch& b) {
  auto m = mask.to(torch::kCPU).contiguous();
  if (m.dim() != 2 || int64_t(b.windows.size()) != m.size(0)) return 0;  // a batch without provenance
  auto a = m.accessor<bool, 2>();  // (B, T)
  double sum = 0;
  for (int64_t r = 0; r < m.size(0); ++r)
    for (int64_t t = 0; t < m.size(1); ++t) {
      if (!a[r][t]) continue;
      uint64_t x = (uint64_t(b.windows[size_t(r)].shard) << 40) ^ (b.windows[size_t(r)].start + uint64_t(t) + 1);
      x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
      x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
      sum += double((x ^ (x >> 31)) & 0xFFFFF);
    }
  return sum;
}

SlmObjective::SlmObjective(SelectionOptions opts, std::unique_ptr<Reference> reference, uint64_t seed)
    : opts_(std::move(opts)), reference_(std::move(reference)), seed_(seed) {
  if (opts_.needs_reference() != bool(reference_))
    fail("internal: score function '" + to_string(opts_.score) + "' given " + (reference_ ? "a" : "no") +
         " reference (TrainOptions::validate() decides this)");
}

bool SlmObjective::active(int64_t step, int64_t max_steps) const {
  return double(step) >= opts_.start_fraction * double(max_steps);
}

// The kept tokens of one selection: a mask per micro-batch, and what the statistics need.
struct SlmObjective::Kept {
  std::vector<torch::Tensor> masks;
  torch::Tensor threshold_sum;  // of the k-th largest score, per selection row, on the device
  int64_t rows = 0;             // selection rows
  int64_t selected = 0;         // kept tokens on this rank
  // Counts `rows` selection rows that keep k tokens each (k 0: counted from the masks).
  void add(const Selection& s, int64_t n_rows, int64_t k, bool with_stats) {
    selected += n_rows * k;
    if (!with_stats) return;
    auto t = s.threshold.to(torch::kDouble).sum();
    threshold_sum = threshold_sum.defined() ? threshold_sum + t : t;
    rows += n_rows;
  }
};

std::vector<torch::Tensor> SlmObjective::scores(const std::vector<torch::Tensor>& losses,
                                                const std::vector<const Batch*>& batches, int64_t step,
                                                int64_t micro_index) const {
  std::vector<torch::Tensor> out;  // (B, T) each
  for (size_t i = 0; i < batches.size(); ++i) {
    torch::Tensor ref = reference_ ? reference_->losses(*batches[i]).to(losses[i].device()) : torch::Tensor();
    // A seed per (run seed, step, micro-batch): resumed runs draw the same random scores.
    const int64_t rank = dist_ ? dist_->rank() : 0, world = dist_ ? dist_->world() : 1;
    const int64_t global_micro = (micro_index + int64_t(i)) * world + rank;
    const uint64_t rseed = seed_ * 0x9E3779B97F4A7C15ULL + uint64_t(step) * 1000003ULL + uint64_t(global_micro);
    out.push_back(token_scores(opts_.score, losses[i], ref.defined() ? ref : losses[i], rseed));
  }
  return out;
}

// Each selection row keeps exactly k tokens, so the kept count is known without reading the masks
// (except this rank's share of a global selection).
SlmObjective::Kept SlmObjective::keep(const std::vector<torch::Tensor>& scores, bool with_stats) {
  Kept kept;
  switch (opts_.scope) {
    case SelectionScope::Sequence:
      for (auto& s : scores) {
        const int64_t k = selected_count(s.size(-1), opts_.ratio);
        auto sel = select_top_k(s, k);  // per row
        kept.add(sel, s.size(0), k, with_stats);
        kept.masks.push_back(sel.mask);
      }
      return kept;
    case SelectionScope::MicroBatch:
      for (auto& s : scores) {
        auto flat = s.reshape({1, -1});
        const int64_t k = selected_count(flat.size(1), opts_.ratio);
        auto sel = select_top_k(flat, k);
        kept.add(sel, 1, k, with_stats);
        kept.masks.push_back(sel.mask.view(s.sizes()));
      }
      return kept;
    case SelectionScope::Stream:
      return keep_stream(scores, with_stats);
    case SelectionScope::Batch:
      break;
  }
  auto all = global_scores(scores);  // (1, N), every rank's
  const int64_t k = selected_count(all.size(1), opts_.ratio);
  auto sel = select_top_k(all, k);
  global_selected_ = k;
  kept.masks = own_parts(sel.mask, scores);
  if (dist_ && dist_->world() > 1) {
    kept.add(sel, 1, 0, with_stats);  // k is global; this rank's share is counted from its masks
    for (auto& m : kept.masks) kept.selected += m.sum().item<int64_t>();
  } else {
    kept.add(sel, 1, k, with_stats);
  }
  return kept;
}

// Every rank sees the same global scores, so every rank's window and threshold are the same, and
// the window's contents do not depend on the process count (the one-process order).
SlmObjective::Kept SlmObjective::keep_stream(const std::vector<torch::Tensor>& scores, bool with_stats) {
  Kept kept;
  auto all = global_scores(scores);  // (1, N), every rank's
  if (opts_.stream_window < all.size(1))
    fail("internal: a stream window of " + std::to_string(opts_.stream_window) + " scores is shorter than the step's " +
         std::to_string(all.size(1)) + " (TrainOptions::check_selection refuses it)");
  auto flat = all.reshape({-1}).to(torch::kFloat);
  window_ = window_.defined() ? torch::cat({window_.to(flat.device()), flat}) : flat.clone();
  if (window_.size(0) > opts_.stream_window) window_ = window_.slice(0, window_.size(0) - opts_.stream_window).clone();
  const int64_t n = window_.size(0), k = selected_count(n, opts_.ratio);
  auto threshold = std::get<0>(window_.kthvalue(n - k + 1)).to(all.dtype());  // the window's k-th largest
  auto mask = all >= threshold;
  // Every step trains on something: when none of its scores reaches the threshold, its best does.
  mask = mask | ((mask.sum() == 0) & (all == all.max()));
  global_selected_ = mask.sum().item<int64_t>();  // the step's k: one host read, as the weights need it
  kept.masks = own_parts(mask, scores);
  kept.add({mask, threshold.view({1, 1})}, 1, 0, with_stats);
  if (dist_ && dist_->world() > 1) {
    for (auto& m : kept.masks) kept.selected += m.sum().item<int64_t>();
  } else {
    kept.selected = global_selected_;
  }
  return kept;
}

std::vector<float> SlmObjective::stream_window() const {
  if (!window_.defined()) return {};
  auto w = window_.to(torch::kCPU).contiguous();
  return std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
}

void SlmObjective::set_stream_window(const std::vector<float>& scores) {
  if (scores.empty()) {
    window_ = torch::Tensor();
    return;
  }
  window_ = torch::tensor(scores, torch::kFloat);
}

torch::Tensor SlmObjective::global_scores(const std::vector<torch::Tensor>& scores) const {
  std::vector<torch::Tensor> flat;
  for (auto& s : scores) flat.push_back(s.reshape({-1}));
  auto local = torch::cat(flat);  // (A*B*T) in this rank's micro-batch order
  if (!dist_ || dist_->world() == 1) return local.unsqueeze(0);
  // The gathered (W, A, B*T) reordered to (A, W, B*T).
  const int64_t W = dist_->world(), A = int64_t(scores.size()), BT = scores[0].numel();
  return dist_->all_gather(local).view({W, A, BT}).permute({1, 0, 2}).reshape({1, -1});
}

std::vector<torch::Tensor> SlmObjective::own_parts(const torch::Tensor& global,
                                                   const std::vector<torch::Tensor>& scores) const {
  std::vector<torch::Tensor> parts;
  if (dist_ && dist_->world() > 1) {
    const int64_t W = dist_->world(), A = int64_t(scores.size()), BT = scores[0].numel();
    auto mine = global.reshape({A, W, BT}).select(1, dist_->rank());  // (A, B*T)
    for (int64_t i = 0; i < A; ++i) parts.push_back(mine[i].view(scores[size_t(i)].sizes()));
    return parts;
  }
  int64_t offset = 0;
  for (auto& s : scores) {
    parts.push_back(global.slice(1, offset, offset + s.numel()).view(s.sizes()));
    offset += s.numel();
  }
  return parts;
}

// Adds a selection to `stats`. The sums stay on the losses' device until the step's end: one host
// transfer per step (train/step.h).
static void add_selection_stats(SelectionStats& stats, const std::vector<torch::Tensor>& masks, const torch::Tensor& threshold_sum,
                                int64_t rows, int64_t selected, const std::vector<torch::Tensor>& losses,
                                const std::vector<const Batch*>& batches) {
  auto zero = torch::zeros({}, losses[0].options().dtype(torch::kDouble));
  torch::Tensor kept = zero, dropped = zero;
  for (size_t i = 0; i < masks.size(); ++i) {
    auto l = losses[i].to(torch::kDouble);
    kept = kept + torch::where(masks[i], l, zero).sum();
    dropped = dropped + torch::where(masks[i], zero, l).sum();
    stats.candidates += masks[i].numel();
    // Which tokens were kept, for comparing runs (data-parallel vs one process). Computed
    // where the masks already are on the host; on an accelerator it would cost a transfer.
    if (masks[i].is_cpu()) stats.selected_checksum += selection_checksum(masks[i], *batches[i]);
  }
  auto sums = torch::stack({threshold_sum, kept, dropped});  // read back once, at the step's end
  stats.pending = stats.pending.defined() ? stats.pending + sums : sums;
  stats.thresholds += rows;
  stats.selected += selected;
}

std::vector<torch::Tensor> SlmObjective::select(const std::vector<torch::Tensor>& losses,
                                                const std::vector<const Batch*>& batches, int64_t step,
                                                int64_t micro_index, SelectionStats* stats) {
  Kept kept = keep(scores(losses, batches, step, micro_index), stats != nullptr);
  if (stats) add_selection_stats(*stats, kept.masks, kept.threshold_sum, kept.rows, kept.selected, losses, batches);
  return kept.masks;
}

std::vector<torch::Tensor> SlmObjective::weights(const std::vector<torch::Tensor>& losses,
                                                 const std::vector<const Batch*>& batches, int64_t step,
                                                 int64_t micro_index, int64_t micro_per_step,
                                                 SelectionStats& stats) {
  if (opts_.weighting == TokenWeighting::Softmax)
    return soft_weights(losses, batches, step, micro_index, micro_per_step, stats);
  SelectionStats mine;
  auto masks = select(losses, batches, step, micro_index, &mine);
  const int64_t batch_k = global_selected_;  // kept tokens in the whole step, all ranks (scope Batch), known without a sync
  stats.add(mine);
  std::vector<torch::Tensor> w;
  for (auto& m : masks) {
    auto mf = m.to(torch::kFloat);
    switch (opts_.scope) {
      case SelectionScope::Batch:
      case SelectionScope::Stream: {
        // One k over the whole step: every kept token weighs 1/k.
        w.push_back(mf / double(batch_k));
        break;
      }
      case SelectionScope::MicroBatch:
        w.push_back(mf / (mf.sum() * double(micro_per_step)));
        break;
      case SelectionScope::Sequence:
        // The mean over each sequence's kept tokens, averaged over sequences and micro-batches.
        w.push_back(mf / (mf.sum(-1, /*keepdim=*/true) * double(mf.size(0) * micro_per_step)));
        break;
    }
  }
  return w;
}

int64_t SlmObjective::kept_at_most(const torch::Tensor& w) const {
  if (opts_.weighting == TokenWeighting::Softmax) return w.numel();
  switch (opts_.scope) {
    case SelectionScope::Sequence:
      return w.size(0) * selected_count(w.size(-1), opts_.ratio);  // k in each of the B rows
    case SelectionScope::MicroBatch:
      return selected_count(w.numel(), opts_.ratio);
    case SelectionScope::Batch:
    case SelectionScope::Stream:
      break;
  }
  return std::min<int64_t>(w.numel(), global_selected_);  // the step's k, shared by its micro-batches
}

// Each scope's weights sum to 1, divided among the scopes as the top-k weights are: the step's
// loss is sum_i w_i L_i, the mean over tokens re-weighted by N * w_i (mean 1). The weights are
// computed from detached scores, so no gradient flows through them.
std::vector<torch::Tensor> SlmObjective::soft_weights(const std::vector<torch::Tensor>& losses,
                                                      const std::vector<const Batch*>& batches, int64_t step,
                                                      int64_t micro_index, int64_t micro_per_step,
                                                      SelectionStats& stats) {
  const double T = opts_.temperature;
  auto sc = scores(losses, batches, step, micro_index);
  std::vector<torch::Tensor> w;
  switch (opts_.scope) {
    case SelectionScope::Sequence:
      for (auto& s : sc) w.push_back(softmax_weights(s, T) / double(s.size(0) * micro_per_step));
      break;
    case SelectionScope::MicroBatch:
      for (auto& s : sc) w.push_back(softmax_weights(s.reshape({1, -1}), T).view(s.sizes()) / double(micro_per_step));
      break;
    case SelectionScope::Batch:
      w = own_parts(softmax_weights(global_scores(sc), T), sc);
      break;
    case SelectionScope::Stream:
      fail("internal: --weighting softmax with --selection-scope stream (TrainOptions::check_selection refuses it)");
  }
  // Every token trains: the statistics count all as kept (no threshold).
  std::vector<torch::Tensor> all;
  int64_t n = 0;
  for (auto& s : sc) {
    all.push_back(torch::ones(s.sizes(), s.options().dtype(torch::kBool)));
    n += s.numel();
  }
  SelectionStats mine;
  add_selection_stats(mine, all, torch::zeros({}, losses[0].options().dtype(torch::kDouble)), 0, n, losses, batches);
  stats.add(mine);
  return w;
}

}  // namespace rho
