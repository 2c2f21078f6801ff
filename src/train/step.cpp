#include "train/step.h"

#include <cmath>

#include "common/torch_compat.h"
#include "dist/distributed.h"
#include "dist/grad_reducer.h"
#include "dist/sharded_optimizer.h"
#include "train/master_weights.h"
#include "measure/token_losses.h"

namespace rho {

std::unique_ptr<torch::optim::AdamW> make_optimizer(const std::vector<torch::Tensor>& params, const OptimOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : params) (p.dim() >= 2 ? decay : no_decay).push_back(p);
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

// The step's loss, left on the device until the step's end (settle()), where it is read back
// together with the gradient norm and the selection's sums.
struct Pending {
  torch::Tensor loss_sum;  // sum over micro-batches of each one's mean loss (double)
};

// Forward pass of one micro-batch: per-token losses (B, T), graph kept for backward.
torch::Tensor forward_losses(LlamaForCausalLM& model, const Batch& b, const StepSettings& st, const HeadOptions& head) {
  compat::AutocastScope autocast(b.inputs.device(), st.bf16);
  return model_token_losses(model, b.inputs, b.targets, head);
}

// Counts a micro-batch: its mean loss (a device scalar) and its tokens.
void add_loss(Pending& p, StepStats& s, const torch::Tensor& mean_loss, int64_t tokens) {
  auto m = mean_loss.detach().to(torch::kDouble);
  p.loss_sum = p.loss_sum.defined() ? p.loss_sum + m : m;
  s.tokens_seen += tokens;
}

void slm_backward(LlamaForCausalLM& model, const std::vector<Batch>& micro, const StepSettings& st, int64_t world,
                  StepStats& s, Pending& p) {
  SlmObjective& slm = *st.slm;
  const int64_t A = int64_t(micro.size());
  // Each head learns, between its forward and backward, how many of its rows the selection keeps.
  auto told_head = [&] {
    HeadOptions head = st.head;
    head.kept_rows = c10::make_intrusive<KeptRows>();
    return head;
  };
  if (selects_over_step(slm.options().scope)) {
    // The threshold needs every micro-batch's scores: run all forwards, select, then one backward
    // (one per micro-batch with master weights).
    std::vector<torch::Tensor> losses, detached;
    std::vector<const Batch*> batches;
    std::vector<HeadOptions> heads;
    for (const auto& b : micro) {
      heads.push_back(told_head());
      losses.push_back(forward_losses(model, b, st, heads.back()));
      detached.push_back(losses.back().detach());
      batches.push_back(&b);
      add_loss(p, s, losses.back().detach().mean(), losses.back().numel());
    }
    auto w = slm.weights(detached, batches, st.step, 0, A * world, s.selection);
    for (int64_t i = 0; i < A; ++i) heads[i].kept_rows->most = slm.kept_at_most(w[i]);
    if (st.master) {
      // One backward per micro-batch (their graphs are separate), so each one's bf16 gradients
      // reach the fp32 masters on their own: one backward over all would sum them in bf16 first.
      for (int64_t i = 0; i < A; ++i) {
        if (st.reducer) st.reducer->before_backward(i + 1 == A);
        (losses[i] * w[i]).sum().backward();
      }
    } else {
      torch::Tensor total;
      for (int64_t i = 0; i < A; ++i) {
        auto part = (losses[i] * w[i]).sum();
        total = total.defined() ? total + part : part;
      }
      if (st.reducer) st.reducer->before_backward(true);
      total.backward();
    }
  } else {
    for (int64_t i = 0; i < A; ++i) {
      const HeadOptions head = told_head();
      auto losses = forward_losses(model, micro[i], st, head);
      add_loss(p, s, losses.detach().mean(), losses.numel());
      auto w = slm.weights({losses.detach()}, {&micro[i]}, st.step, i, A * world, s.selection);
      head.kept_rows->most = slm.kept_at_most(w[0]);
      if (st.reducer) st.reducer->before_backward(i + 1 == A);
      (losses * w[0]).sum().backward();
    }
  }
  s.tokens_trained = s.selection.selected;
}

// Forward passes, selection and backward; the loss and the selection's sums stay on the device.
StepStats accumulate(LlamaForCausalLM& model, const std::vector<Batch>& micro, const StepSettings& st,
                     int64_t world, Pending& p) {
  StepStats s;
  if (st.slm) {
    slm_backward(model, micro, st, world, s, p);
  } else {
    HeadOptions head = st.head;
    head.every_row_trained = true;  // CLM: each token's loss has a gradient
    const double n = double(micro.size());
    for (size_t i = 0; i < micro.size(); ++i) {
      const Batch& b = micro[i];
      auto loss = forward_losses(model, b, st, head).mean();
      if (st.reducer) st.reducer->before_backward(i + 1 == micro.size());
      (loss / (n * double(world))).backward();
      add_loss(p, s, loss, b.targets.numel());
    }
    s.tokens_trained = s.tokens_seen;
  }
  if (st.master) st.master->after_backward();
  return s;
}

// One device-to-host transfer for everything the step reports: the mean loss, the gradient norm
// (when given) and the selection's pending sums.
void settle(StepStats& s, Pending& p, int64_t micro_batches, const torch::Tensor& grad_norm) {
  std::vector<torch::Tensor> parts = {p.loss_sum.reshape({1})};
  if (grad_norm.defined()) parts.push_back(grad_norm.to(torch::kDouble).reshape({1}));
  if (s.selection.pending.defined()) parts.push_back(s.selection.pending.to(torch::kDouble));
  const auto host = torch::cat(parts).cpu();
  const double* v = host.data_ptr<double>();
  s.loss = v[0] / double(micro_batches);
  if (grad_norm.defined()) s.grad_norm = v[1];
  if (s.selection.pending.defined()) s.selection.settle(v + (grad_norm.defined() ? 2 : 1));
}

// The step's statistics over every rank: sums, and the mean loss.
void reduce_stats(Distributed& dist, StepStats& s) {
  auto& sel = s.selection;
  auto t = torch::tensor({s.loss, double(s.tokens_seen), double(s.tokens_trained), double(sel.candidates),
                          double(sel.selected), sel.loss_selected_sum, sel.loss_unselected_sum,
                          sel.selected_checksum},
                         torch::kDouble)
               .to(dist.device());  // NCCL reduces device tensors only
  dist.all_reduce_sum({t});
  t = t.cpu();
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

// Clips the gradients in place to a global L2 norm of `max_norm` (0: no clipping) and returns
// their norm before clipping, as a device scalar: torch's clip_grad_norm_ reads it back to the
// host, a synchronisation this keeps for the step's end.
torch::Tensor clip_gradients(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads, norms;
  for (auto& p : params)
    if (p.grad().defined()) {
      grads.push_back(p.grad());
      norms.push_back(p.grad().norm(2));
    }
  if (grads.empty()) return torch::zeros({}, torch::kFloat);
  auto total = torch::stack(norms).norm(2);
  if (max_norm > 0) {
    auto coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
    for (auto& g : grads) g.mul_(coef);
  }
  return total;
}

}  // namespace

StepStats accumulate_gradients(LlamaForCausalLM& model, const std::vector<Batch>& micro_batches,
                               const StepSettings& settings, int64_t world) {
  Pending p;
  StepStats s = accumulate(model, micro_batches, settings, world, p);
  settle(s, p, int64_t(micro_batches.size()), torch::Tensor());
  return s;
}

StepStats train_step(LlamaForCausalLM& model, torch::optim::AdamW& opt,
                     const std::vector<Batch>& micro_batches, double lr, double grad_clip,
                     const StepSettings& settings) {
  Distributed* dist = settings.dist;
  const int64_t world = dist ? dist->world() : 1;
  Pending p;
  StepStats s = accumulate(model, micro_batches, settings, world, p);
  const auto trained = trained_tensors(model, settings.master);
  if (world > 1) {
    if (settings.reducer) {
      settings.reducer->finish();
    } else {
      std::vector<torch::Tensor> grads;
      for (auto& param : trained)
        if (param.grad().defined()) grads.push_back(param.grad());
      dist->all_reduce_sum(grads);
    }
    settle(s, p, int64_t(micro_batches.size()), torch::Tensor());
    reduce_stats(*dist, s);
    s.grad_norm = (settings.sharded ? settings.sharded->clip(grad_clip) : clip_gradients(trained, grad_clip)).item<double>();
  } else {
    settle(s, p, int64_t(micro_batches.size()), clip_gradients(trained, grad_clip));
  }
  if (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm)) {
    // One NaN in the update would spread to every weight through AdamW's moments.
    if (settings.sharded) settings.sharded->zero_grad();
    else compat::zero_grad(opt);
    s.skipped = true;
    return s;
  }
  if (settings.sharded) {
    settings.sharded->step(lr);
    settings.sharded->zero_grad();
    return s;
  }
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  compat::adamw_step(opt);
  compat::zero_grad(opt);
  if (settings.master) settings.master->write_back();
  return s;
}

}  // namespace rho
