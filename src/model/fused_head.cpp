#include "model/fused_head.h"

#include <algorithm>

#include "common/torch_compat.h"

namespace rho {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct FusedHeadLoss : torch::autograd::Function<FusedHeadLoss> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w,
                               const torch::Tensor& targets, int64_t chunk, bool every_row,
                               c10::intrusive_ptr<KeptRows> kept_rows) {
    const int64_t N = h.size(0);
    auto f32 = h.options().dtype(torch::kFloat);
    auto loss = torch::empty({N}, f32), lse = torch::empty({N}, f32);  // (N)
    auto tgt = targets.unsqueeze(1);                                   // (N, 1)
    const auto mm_type = compat::autocast_enabled(h.device()) ? torch::kBFloat16 : w.scalar_type();
    const auto wm = w.to(mm_type);  // (V, C)
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t e = std::min(N, s + chunk);
      auto logits = torch::mm(h.slice(0, s, e).to(mm_type), wm.t()).to(torch::kFloat);  // (n, V)
      auto l = torch::logsumexp(logits, 1);                                 // (n)
      lse.slice(0, s, e).copy_(l);
      auto out = loss.slice(0, s, e);
      torch::sub_out(out, l, logits.gather(1, tgt.slice(0, s, e)).squeeze(1));
    }
    ctx->save_for_backward({h, w, targets, lse});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["every_row"] = every_row;
    if (kept_rows) ctx->saved_data["kept_rows"] = c10::IValue::make_capsule(std::move(kept_rows));
    ctx->saved_data["bf16"] = mm_type == torch::kBFloat16;
    return loss;
  }

  // The rows backward computes: undefined for every row (CLM, or a bound of N); else the indices
  // of at least the rows with g != 0, by a top-k of the bound's size when the step told it
  // (no host synchronisation), by nonzero() when not.
  static torch::Tensor kept_rows(AutogradContext* ctx, const torch::Tensor& g) {
    const int64_t N = g.size(0);
    if (ctx->saved_data["every_row"].toBool()) return {};
    const auto it = ctx->saved_data.find("kept_rows");
    if (it == ctx->saved_data.end()) return g.ne(0).nonzero().squeeze(1);
    const int64_t most = static_cast<KeptRows*>(it->second.toCapsule().get())->most;
    if (most < 0) return g.ne(0).nonzero().squeeze(1);
    const auto nonzero = g.ne(0);  // (N)
    if (g.is_cpu()) {  // no synchronisation to fear: check the bound the step gave
      const int64_t count = nonzero.sum().item<int64_t>();
      TORCH_CHECK(count <= most, "internal: the fused head was told at most ", most, " kept rows, but ", count,
                  " have a gradient");
    }
    if (most >= N) return {};
    // Sorted, so an exact bound gathers the rows nonzero() would, in its order (the same sums).
    auto rows = std::get<1>(nonzero.to(torch::kFloat).topk(most, 0, /*largest=*/true, /*sorted=*/false));
    return std::get<0>(rows.sort());
  }

  // grad_logits = g * (softmax - onehot), only for rows with g != 0 (SLM's kept tokens):
  // grad_h = grad_logits W, grad_W = grad_logits^T h.
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &h = saved[0], &w = saved[1], &targets = saved[2], &lse = saved[3];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto mm_type = ctx->saved_data["bf16"].toBool() ? torch::kBFloat16 : w.scalar_type();
    const auto& g = grads[0];  // (N)
    // One gradient per forward input: hidden, weight, then none for targets, chunk, every_row, kept_rows.
    const tensor_list none = {torch::zeros_like(h), torch::zeros_like(w), {}, {}, {}, {}};
    if (!g.defined()) return none;
    // Summed over the chunks in fp32 whatever w's dtype (bf16 with --master-weights fp32), and
    // rounded to it once at the end.
    auto grad_w = torch::zeros_like(w, w.options().dtype(torch::kFloat));  // (V, C)

    const auto idx = kept_rows(ctx, g);  // (n); undefined: every row
    const int64_t n = idx.defined() ? idx.size(0) : h.size(0);
    if (n == 0) return none;
    const bool all = n == h.size(0);
    const auto wm = w.to(mm_type);  // (V, C)
    auto grad_h = all ? torch::empty_like(h) : torch::zeros_like(h);  // (N, C)
    auto hs = all ? h : h.index_select(0, idx);                              // (n, C)
    auto ts = (all ? targets : targets.index_select(0, idx)).unsqueeze(1);  // (n, 1)
    auto ls = (all ? lse : lse.index_select(0, idx)).unsqueeze(1);          // (n, 1)
    auto gs = (all ? g : g.index_select(0, idx)).to(torch::kFloat).unsqueeze(1);  // (n, 1)
    auto grad_hs = all ? grad_h : torch::empty_like(hs);                   // (n, C)
    for (int64_t s = 0; s < n; s += chunk) {
      const int64_t e = std::min(n, s + chunk);
      auto hc = hs.slice(0, s, e).to(mm_type);
      auto p = torch::mm(hc, wm.t()).to(torch::kFloat);  // logits (c, V), turned in place into grad_logits
      p.sub_(ls.slice(0, s, e)).exp_().mul_(gs.slice(0, s, e));
      p.scatter_add_(1, ts.slice(0, s, e), -gs.slice(0, s, e));
      auto pw = p.to(mm_type);
      auto out = grad_hs.slice(0, s, e);
      if (mm_type == h.scalar_type()) torch::mm_out(out, pw, wm);
      else out.copy_(torch::mm(pw, wm));
      if (mm_type == torch::kFloat) grad_w.addmm_(pw.t(), hc);
      else grad_w.add_(torch::mm(pw.t(), hc));  // bf16 products, summed in fp32
    }
    if (!all) grad_h.index_copy_(0, idx, grad_hs);
    return {grad_h, grad_w.to(w.scalar_type()), {}, {}, {}, {}};
  }
};

}  // namespace

int64_t head_chunk_tokens(int64_t vocab, int64_t n_tokens, int64_t requested, bool accelerator) {
  const int64_t floats = int64_t(1) << (accelerator ? 25 : 21), most = accelerator ? 8192 : 1024;
  const int64_t c = requested > 0 ? requested : std::clamp<int64_t>(floats / std::max<int64_t>(1, vocab), 128, most);
  return std::max<int64_t>(1, std::min(c, n_tokens));
}

torch::Tensor fused_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                              const torch::Tensor& targets, int64_t chunk_tokens, bool every_row_trained,
                              c10::intrusive_ptr<KeptRows> kept_rows) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && targets.dim() == 1 && hidden.size(0) == targets.size(0) &&
                  hidden.size(1) == weight.size(1),
              "fused_head_loss: expected hidden (N, C), weight (V, C), targets (N)");
  const int64_t chunk = head_chunk_tokens(weight.size(0), hidden.size(0), chunk_tokens, !hidden.is_cpu());
  return FusedHeadLoss::apply(hidden, weight, targets, chunk, every_row_trained, std::move(kept_rows));
}

}  // namespace rho
