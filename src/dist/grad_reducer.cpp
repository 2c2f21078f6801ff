#include "dist/grad_reducer.h"

#include <chrono>

namespace rho {

std::vector<std::vector<size_t>> gradient_buckets(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  for (size_t k = params.size(); k-- > 0;) {
    const auto& p = params[k];
    const int64_t b = p.numel() * int64_t(p.element_size());
    const bool fits = !buckets.empty() && bytes + b <= bucket_bytes &&
                      params[buckets.back()[0]].options().dtype() == p.options().dtype();
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(k);
    bytes += b;
  }
  return buckets;
}

GradientReducer::GradientReducer(Distributed& dist, const std::vector<torch::Tensor>& params, int64_t bucket_bytes)
    : dist_(dist), params_(params), bucket_of_(params.size()), offset_(params.size()) {
  for (auto& members : gradient_buckets(params_, bucket_bytes)) {
    Bucket& bucket = buckets_.emplace_back();
    int64_t n = 0;
    for (size_t k : members) {
      bucket_of_[k] = buckets_.size() - 1;
      offset_[k] = n;
      n += params_[k].numel();
    }
    bucket.flat = torch::zeros({n}, params_[members[0]].options());
    bucket.params = std::move(members);
  }
  for (size_t k = 0; k < params_.size(); ++k)
    hooks_.push_back(params_[k].register_hook([this, k](const torch::Tensor& g) {
      on_grad(k, g);
      return torch::Tensor();  // the gradient itself goes on into .grad unchanged
    }));
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < params_.size(); ++k) params_[k].remove_hook(hooks_[k]);
}

void GradientReducer::before_backward(bool last) {
  last_ = last;
  if (last)
    for (auto& b : buckets_) b.ready = 0;
}

// Runs inside backward, before the incoming gradient is added into .grad: the bucket gets the
// parameter's complete gradient, what .grad held from earlier micro-batches plus this one.
void GradientReducer::on_grad(size_t k, const torch::Tensor& incoming) {
  if (!last_) return;
  Bucket& b = buckets_[bucket_of_[k]];
  auto slot = b.flat.narrow(0, offset_[k], params_[k].numel()).view(params_[k].sizes());
  slot.copy_(incoming);
  if (params_[k].grad().defined()) slot.add_(params_[k].grad());
  if (++b.ready == int64_t(b.params.size())) launch(b);
}

int64_t GradientReducer::buffer_bytes() const {
  int64_t n = 0;
  for (const auto& b : buckets_) n += b.flat.numel() * int64_t(b.flat.element_size());
  return n;
}

void GradientReducer::launch(Bucket& b) { b.pending = dist_.all_reduce_sum_async(b.flat); }

void GradientReducer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& b : buckets_) {
    if (!b.pending) {
      // A parameter that took no part in this step's graph: its gradient is what .grad holds.
      for (size_t k : b.params) {
        auto slot = b.flat.narrow(0, offset_[k], params_[k].numel());
        if (params_[k].grad().defined()) slot.copy_(params_[k].grad().reshape({-1}));
        else slot.zero_();
      }
      launch(b);
    }
    b.pending->wait();
    b.pending.reset();
    for (size_t k : b.params) {
      auto sum = b.flat.narrow(0, offset_[k], params_[k].numel()).view(params_[k].sizes());
      if (params_[k].grad().defined()) params_[k].mutable_grad().copy_(sum);
      else params_[k].mutable_grad() = sum.clone();
    }
  }
  dist_.add_comm_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  last_ = false;
}

}  // namespace rho
