// ZeRO stages 1 and 2 over c10d (`rho train --shard optimizer|gradients`, docs/data-parallel.md):
// AdamW whose state is split across the data-parallel ranks instead of replicated.
//
// Legend: N ranks; parameters are flattened, in reverse order (the order backward produces their
// gradients), into buckets of about `bucket_bytes`; bucket b holds n_b elements padded to N * S_b,
// and rank r owns elements [r * S_b, (r + 1) * S_b) of it: its slice.
//
//   parameters  fp32, whole on every rank, stored as views into each bucket's flat buffer;
//               a rank's slice of that buffer is its master copy, the one it updates
//   AdamW       exp_avg and exp_avg_sq of the rank's slices only: 8 P / N bytes instead of 8 P
//   gradients   each rank keeps the gradient of its slices (4 P / N), summed over ranks and
//               micro-batches. optimizer: backward accumulates whole gradients in .grad (4 P) as
//                 in plain data parallelism; after the step's last backward each bucket is
//                 reduce-scattered as soon as its last gradient arrives
//               gradients: every backward (each micro-batch) reduce-scatters its buckets as they
//                 fill; .grad is released bucket by bucket, so a rank holds its 4 P / N plus the
//                 buckets in flight (at most kMaxInFlight waiting, and the one filling)
//
// A step then: the global gradient norm from an all-reduce of the slices' squared norms, the same
// clipping on every rank, AdamW on the owned slices (torch's AdamW arithmetic, weight decay on
// matrices only), and the updated slices all-gathered in place into every rank's parameters.
// The NaN guard needs nothing more: the norm is global, so every rank skips the same steps.
//
// Checkpoints hold one file of slices per rank and a manifest (save_slices); they are read back at
// any world size, re-sliced (load_slices), or consolidated into torch's AdamW for an unsharded run
// (load_sliced_into).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "dist/distributed.h"
#include "dist/grad_reducer.h"
#include "train/options.h"

namespace rho {

// Bytes of what training keeps per rank, as held at the step's peak (the sharding benchmark and
// `rho plan`'s check).
struct TrainMemory {
  int64_t weights = 0;          // the model's parameters
  int64_t gradients_peak = 0;   // gradients and the buffers they are combined in, most at once
  int64_t optimizer = 0;        // AdamW's moments held by this rank
};

class ShardedAdamW : public GradientSync {
 public:
  using NamedParams = std::vector<std::pair<std::string, torch::Tensor>>;
  // Re-stores `params` as views into flat buffers (their values unchanged). Every rank passes
  // the same parameters in the same order.
  ShardedAdamW(Distributed& dist, NamedParams params, const OptimOptions& o, ShardLevel level,
               int64_t bucket_bytes = 25 << 20);
  ~ShardedAdamW() override;
  ShardedAdamW(const ShardedAdamW&) = delete;
  ShardedAdamW& operator=(const ShardedAdamW&) = delete;

  void before_backward(bool last) override;
  // Every bucket reduce-scattered: this rank's slice gradients summed over ranks and micro-batches.
  void finish() override;
  // The global L2 norm of the step's gradient before clipping (a device scalar, equal on every
  // rank); scales the slice gradients to `max_norm` (0: no clipping).
  torch::Tensor clip(double max_norm);
  // AdamW at learning rate `lr` on this rank's slices, then every rank's slices all-gathered.
  void step(double lr);
  // Drops the step's gradients (.grad and the slice gradients).
  void zero_grad();

  ShardLevel level() const { return level_; }
  int64_t steps_taken() const { return steps_; }
  TrainMemory memory() const;

  // Checkpoint slices: writes `dir`/rank_NNNNN.safetensors (this rank's moments, one tensor pair
  // per bucket); rank 0 also writes `dir`/manifest.json (world, AdamW step, every bucket's
  // parameters and slice size). Every rank calls it.
  void save_slices(const std::string& dir) const;
  // Reads `dir` as save_slices wrote it at any world size and bucket size, taking this rank's
  // slices. UserError naming the file when the manifest and the slices or the model disagree.
  void load_slices(const std::string& dir);
  // Takes this rank's slices of an unsharded run's AdamW state (a checkpoint's optimizer.pt).
  void load_from(torch::optim::AdamW& full);

 private:
  struct Segment {       // one parameter's part of a rank's slice
    size_t param;        // index into params_
    int64_t param_begin;  // first element of the parameter it covers
    int64_t slice_begin;  // where in the slice
    int64_t length;
  };
  struct Bucket {
    std::vector<size_t> params;        // indices into params_, in flat order
    std::vector<int64_t> offsets;      // each parameter's first element in `weights`
    int64_t elements = 0, slice = 0;   // n_b and S_b
    torch::Tensor weights;             // (N * S_b) the parameters' storage
    torch::Tensor exp_avg, exp_avg_sq, grad_slice;  // (S_b) this rank's
    torch::Tensor grads;               // (N * S_b) scratch of one backward, while in flight
    std::vector<Segment> segments;     // what the slice covers
    int64_t ready = 0;
    std::unique_ptr<PendingCollective> pending;
  };
  void on_grad(size_t param, const torch::Tensor& incoming);
  void launch(Bucket& b);
  void flush();  // launches what a backward left unlaunched and waits for every bucket
  void release_grads();
  void note_grad_bytes();
  torch::Tensor slice_of(const Bucket& b, const torch::Tensor& flat) const;

  Distributed& dist_;
  NamedParams params_;
  OptimOptions o_;
  ShardLevel level_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<unsigned> hooks_;
  std::vector<char> got_;       // per parameter: its hook ran in this backward
  std::vector<size_t> hooked_;  // parameters whose gradient this backward has already taken
  bool active_ = false;         // this backward's gradients are reduced (always under Gradients)
  int64_t steps_ = 0;
  int64_t grad_bytes_peak_ = 0;
};

// A module's parameters with their names, in registration order: what ShardedAdamW and the
// sliced checkpoints take.
ShardedAdamW::NamedParams named_params(const torch::nn::Module& module);

// Puts the moments of a sliced checkpoint (`dir` as save_slices wrote it, any world size) into an
// unsharded run's AdamW over `params`. UserError naming the file on any mismatch.
void load_sliced_into(const std::string& dir, const ShardedAdamW::NamedParams& params, torch::optim::AdamW& opt);

}  // namespace rho
