#include "model/fused_head.h"

#include <algorithm>

namespace rho {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct FusedHeadLoss : torch::autograd::Function<FusedHeadLoss> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w,
                               const torch::Tensor& targets, int64_t chunk) {
    const int64_t N = h.size(0);
    auto f32 = h.options().dtype(torch::kFloat);
    auto loss = torch::empty({N}, f32), lse = torch::empty({N}, f32);  // (N)
    auto tgt = targets.unsqueeze(1);                                   // (N, 1)
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t e = std::min(N, s + chunk);
      auto logits = torch::mm(h.slice(0, s, e), w.t()).to(torch::kFloat);  // (n, V)
      auto l = torch::logsumexp(logits, 1);                                 // (n)
      lse.slice(0, s, e).copy_(l);
      auto out = loss.slice(0, s, e);
      torch::sub_out(out, l, logits.gather(1, tgt.slice(0, s, e)).squeeze(1));
    }
    ctx->save_for_backward({h, w, targets, lse});
    ctx->saved_data["chunk"] = chunk;
    return loss;
  }

  // grad_logits = g * (softmax - onehot), only for rows with g != 0 (SLM's kept tokens):
  // grad_h = grad_logits W, grad_W = grad_logits^T h.
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &h = saved[0], &w = saved[1], &targets = saved[2], &lse = saved[3];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto& g = grads[0];  // (N)
    auto grad_w = torch::zeros_like(w);  // (V, C)
    if (!g.defined()) return {torch::zeros_like(h), grad_w, torch::Tensor(), torch::Tensor()};

    // The kept rows; every row when all are kept (CLM), so no gather or scatter is needed.
    auto idx = g.ne(0).nonzero().squeeze(1);  // (n)
    const int64_t n = idx.size(0);
    if (n == 0) return {torch::zeros_like(h), grad_w, torch::Tensor(), torch::Tensor()};
    const bool all = n == h.size(0);
    auto grad_h = all ? torch::empty_like(h) : torch::zeros_like(h);  // (N, C)
    auto hs = all ? h : h.index_select(0, idx);                              // (n, C)
    auto ts = (all ? targets : targets.index_select(0, idx)).unsqueeze(1);  // (n, 1)
    auto ls = (all ? lse : lse.index_select(0, idx)).unsqueeze(1);          // (n, 1)
    auto gs = (all ? g : g.index_select(0, idx)).to(torch::kFloat).unsqueeze(1);  // (n, 1)
    auto grad_hs = all ? grad_h : torch::empty_like(hs);                   // (n, C)
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t e = std::min(n, s + chunk);
      auto hc = hs.slice(0, s, e);
      auto p = torch::mm(hc, w.t()).to(torch::kFloat);  // logits (c, V), turned in place into grad_logits
      p.sub_(ls.slice(0, s, e)).exp_().mul_(gs.slice(0, s, e));
      p.scatter_add_(1, ts.slice(0, s, e), -gs.slice(0, s, e));
      auto pw = p.to(w.scalar_type());
      auto out = grad_hs.slice(0, s, e);
      torch::mm_out(out, pw, w);
      grad_w.addmm_(pw.t(), hc);
    }
    if (!all) grad_h.index_copy_(0, idx, grad_hs);
    return {grad_h, grad_w, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

int64_t head_chunk_tokens(int64_t vocab, int64_t n_tokens, int64_t requested) {
  const int64_t c = requested > 0 ? requested
                                  : std::clamp<int64_t>((int64_t(1) << 21) / std::max<int64_t>(1, vocab), 128, 1024);
  return std::max<int64_t>(1, std::min(c, n_tokens));
}

torch::Tensor fused_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                              const torch::Tensor& targets, int64_t chunk_tokens) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && targets.dim() == 1 && hidden.size(0) == targets.size(0) &&
                  hidden.size(1) == weight.size(1),
              "fused_head_loss: expected hidden (N, C), weight (V, C), targets (N)");
  const int64_t chunk = head_chunk_tokens(weight.size(0), hidden.size(0), chunk_tokens);
  return FusedHeadLoss::apply(hidden, weight, targets, chunk);
}

torch::Tensor model_token_losses(LlamaForCausalLM& model, const torch::Tensor& inputs,
                                 const torch::Tensor& targets, const HeadOptions& head) {
  auto hidden = model->hidden_states(inputs);  // (B, T, C)
  if (!head.fused) return per_token_loss(model->logits(hidden), targets);
  const int64_t B = targets.size(0), T = targets.size(1);
  return fused_head_loss(hidden.reshape({B * T, hidden.size(-1)}), model->head_weight(), targets.reshape({B * T}),
                         head.chunk_tokens)
      .view({B, T});
}

}  // namespace rho
