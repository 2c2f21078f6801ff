#include "train/step.h"

#include <cmath>

#include "compat/torch_compat.h"
#include "dist/distributed.h"

namespace rho {

std::unique_ptr<torch::optim::AdamW> make_optimizer(LlamaForCausalLM& model, const OptimOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(o.weight_decay));
  groups.emplace_back(no_decay, opts(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(o.lr));
}

namespace {

// Forward pass of one micro-batch: per-token losses (B, T), graph kept for backward.
torch::Tensor forward_losses(LlamaForCausalLM& model, const Batch& b, const HeadOptions& head) {
  return model_token_losses(model, b.inputs, b.targets, head);
}

void slm_backward(LlamaForCausalLM& model, const std::vector<Batch>& micro, SlmObjective& slm, int64_t step,
                  const HeadOptions& head, int64_t world, StepStats& s) {
  const int64_t A = int64_t(micro.size());
  // The step's loss stays on the losses' device until the end: one host transfer per step.
  torch::Tensor loss_sum;
  auto account = [&](const torch::Tensor& losses) {
    auto m = losses.detach().mean().to(torch::kDouble);
    loss_sum = loss_sum.defined() ? loss_sum + m : m;
    s.tokens_seen += losses.numel();
  };
  if (slm.options().scope == SelectionScope::Batch) {
    // The threshold needs every micro-batch's scores: run all forwards, select, then one backward.
    std::vector<torch::Tensor> losses, detached;
    std::vector<const Batch*> batches;
    for (const auto& b : micro) {
      losses.push_back(forward_losses(model, b, head));
      detached.push_back(losses.back().detach());
      batches.push_back(&b);
      account(losses.back());
    }
    auto w = slm.weights(detached, batches, step, 0, A * world, s.selection);
    torch::Tensor total;
    for (int64_t i = 0; i < A; ++i) {
      auto part = (losses[i] * w[i]).sum();
      total = total.defined() ? total + part : part;
    }
    total.backward();
  } else {
    for (int64_t i = 0; i < A; ++i) {
      auto losses = forward_losses(model, micro[i], head);
      account(losses);
      auto w = slm.weights({losses.detach()}, {&micro[i]}, step, i, A * world, s.selection);
      (losses * w[0]).sum().backward();
    }
  }
  s.loss = loss_sum.item<double>() / double(A);
  s.tokens_trained = s.selection.selected;
}

// The step's statistics over every rank: sums, and the mean loss.
void reduce_stats(Distributed& dist, StepStats& s) {
  auto& sel = s.selection;
  auto t = torch::tensor({s.loss, double(s.tokens_seen), double(s.tokens_trained), double(sel.candidates),
                          double(sel.selected), sel.loss_selected_sum, sel.loss_unselected_sum,
                          sel.selected_checksum},
                         torch::kDouble);
  dist.all_reduce_sum({t});
  auto v = t.accessor<double, 1>();
  s.loss = v[0] / double(dist.world());
  s.tokens_seen = int64_t(v[1]);
  s.tokens_trained = int64_t(v[2]);
  sel.candidates = int64_t(v[3]);
  sel.selected = int64_t(v[4]);
  sel.loss_selected_sum = v[5];
  sel.loss_unselected_sum = v[6];
  sel.selected_checksum = v[7];
}

}  // namespace

StepStats accumulate_gradients(LlamaForCausalLM& model, const std::vector<Batch>& micro_batches,
                               SlmObjective* slm, int64_t step, const HeadOptions& head, int64_t world) {
  StepStats s;
  if (slm) {
    slm_backward(model, micro_batches, *slm, step, head, world, s);
  } else {
    const double n = double(micro_batches.size());
    for (const auto& b : micro_batches) {
      auto loss = forward_losses(model, b, head).mean();
      (loss / (n * double(world))).backward();
      s.loss += loss.item<double>() / n;
      s.tokens_seen += b.targets.numel();
    }
    s.tokens_trained = s.tokens_seen;
  }
  return s;
}

StepStats train_step(LlamaForCausalLM& model, torch::optim::AdamW& opt,
                     const std::vector<Batch>& micro_batches, double lr, double grad_clip,
                     SlmObjective* slm, int64_t step, const HeadOptions& head, Distributed* dist) {
  const int64_t world = dist ? dist->world() : 1;
  StepStats s = accumulate_gradients(model, micro_batches, slm, step, head, world);
  if (world > 1) {
    std::vector<torch::Tensor> grads;
    for (auto& p : model->parameters())
      if (p.grad().defined()) grads.push_back(p.grad());
    dist->all_reduce_sum(grads);
    reduce_stats(*dist, s);
  }
  if (grad_clip > 0) {
    s.grad_norm = torch::nn::utils::clip_grad_norm_(model->parameters(), grad_clip);
  } else {
    double sq = 0;
    for (auto& p : model->parameters())
      if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    s.grad_norm = std::sqrt(sq);
  }
  if (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm)) {
    // One NaN in the update would spread to every weight through AdamW's moments.
    compat::zero_grad(opt);
    s.skipped = true;
    return s;
  }
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  opt.step();
  compat::zero_grad(opt);
  return s;
}

}  // namespace rho
