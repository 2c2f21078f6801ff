// Sums the gradients of every rank while backward is still running. Parameters are grouped into
// buckets of about 25 MB in reverse order, the order backward produces their gradients; when the
// last gradient of a bucket arrives in the step's last backward, that bucket's all-reduce starts,
// and the rest of backward runs while it travels. finish() waits for the remainder and puts the
// sums in the parameters' .grad: the same gradients as reducing after backward, sooner.
#pragma once
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "dist/distributed.h"

namespace rho {

// The buckets gradients travel in: parameter indices in reverse order (the order backward
// produces their gradients), a bucket closed when the next parameter would take it past
// `bucket_bytes` or has another dtype. A parameter larger than that is a bucket of its own.
std::vector<std::vector<size_t>> gradient_buckets(const std::vector<torch::Tensor>& params, int64_t bucket_bytes);

// What a data-parallel step calls around backward to combine the ranks' gradients: the
// all-reduce below, or ZeRO's reduce-scatter (dist/sharded_optimizer.h).
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Before each backward of a step; `last`: the backward after which the gradients are complete
  // (with gradient accumulation, the earlier ones only accumulate into .grad).
  virtual void before_backward(bool last) = 0;
  // After the step's last backward: every gradient combined across ranks.
  virtual void finish() = 0;
};

class GradientReducer : public GradientSync {
 public:
  GradientReducer(Distributed& dist, const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 25 << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;
  void before_backward(bool last) override;
  // Every bucket reduced, sums in .grad.
  void finish() override;
  // Bytes of the flat buffers the sums travel in (as large as the gradients themselves).
  int64_t buffer_bytes() const;

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    torch::Tensor flat;          // the bucket's gradients, concatenated
    int64_t ready = 0;
    std::unique_ptr<PendingCollective> pending;
  };
  void on_grad(size_t param, const torch::Tensor& incoming);
  void launch(Bucket& b);

  Distributed& dist_;
  std::vector<torch::Tensor> params_;
  std::vector<size_t> bucket_of_;      // per parameter
  std::vector<int64_t> offset_;        // per parameter, within its bucket's flat buffer
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;  // per parameter
  bool last_ = false;
};

}  // namespace rho
