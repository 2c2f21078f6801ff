// Every difference between libtorch versions rho builds against lives here:
// Debian's CPU libtorch 1.13 and the PyTorch 2.x libtorch on GPU machines.
#pragma once
#include <ATen/autocast_mode.h>
#include <sstream>
#include <type_traits>
#include <torch/torch.h>
#include <torch/version.h>

#define RHO_TORCH_AT_LEAST(maj, min) \
  (TORCH_VERSION_MAJOR > (maj) || (TORCH_VERSION_MAJOR == (maj) && TORCH_VERSION_MINOR >= (min)))

namespace rho::compat {

// Grouped-query attention: q has H heads, k/v have K (H a multiple of K), and each k/v head
// serves H/K query heads. repeat_kv makes the (B, H, S, D) copies HF's repeat_kv makes.
inline torch::Tensor repeat_kv(const torch::Tensor& x, int64_t groups) {
  return groups == 1 ? x : x.repeat_interleave(groups, 1);
}

// Causal attention. q: (B, H, T, D), k/v: (B, K, S, D) with S == T. Returns (B, H, T, D).
// torch >= 2.0 has the fused kernel (flash / memory-efficient on CUDA); from 2.5 SDPA reads each
// k/v head for its query group itself (enable_gqa, as transformers does when there is no mask),
// so the repeated k/v are neither made nor kept for backward. 1.13 gets the plain
// softmax(QK^T/sqrt(D) + mask) V, which is what the fused kernels compute.
inline torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v) {
  const int64_t groups = q.size(1) / k.size(1);
#if RHO_TORCH_AT_LEAST(2, 5)
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, std::nullopt,
                                          /*enable_gqa=*/groups > 1);
#elif RHO_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, repeat_kv(k, groups), repeat_kv(v, groups), {}, 0.0,
                                          /*is_causal=*/true);
#else
  const int64_t T = q.size(2), S = k.size(2);
  // The scores (B, H, T, S) are the step's largest tensor: scale q (D wide) instead of them, and
  // mask them in place (matmul's backward does not need its output), two fewer passes over them.
  auto scores = torch::matmul(q * (1.0 / std::sqrt(double(q.size(-1)))), repeat_kv(k, groups).transpose(-2, -1));
  auto mask = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(q.device()))
                  .triu(S - T + 1);
  scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1, torch::kFloat).to(v.scalar_type()), repeat_kv(v, groups));  // softmax in fp32
#endif
}

// Attention of a query block over k/v (shapes as above, S >= T), for KV-cache decoding, sliding
// windows and padded batches. `bool_mask` (T, S) or (B, 1, T, S): true where a query may NOT
// attend; every query must see at least one key. Undefined: every query sees every position (one
// new token after a cache), which lets PyTorch 2.x pick its fused kernels (flash on CUDA, which
// also takes grouped k/v from 2.5). With a mask k/v are repeated: the kernel that takes masks
// (memory-efficient) does not take grouped k/v.
inline torch::Tensor attention_with_mask(const torch::Tensor& q, const torch::Tensor& k,
                                         const torch::Tensor& v, const torch::Tensor& bool_mask) {
  const int64_t groups = q.size(1) / k.size(1);
#if RHO_TORCH_AT_LEAST(2, 5)
  if (!bool_mask.defined())
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, std::nullopt, /*enable_gqa=*/groups > 1);
#endif
  const auto kr = repeat_kv(k, groups), vr = repeat_kv(v, groups);
#if RHO_TORCH_AT_LEAST(2, 0)
  if (!bool_mask.defined()) return at::scaled_dot_product_attention(q, kr, vr);
  return at::scaled_dot_product_attention(q, kr, vr, bool_mask.logical_not());  // SDPA: true = may attend
#endif
  auto scores = torch::matmul(q, kr.transpose(-2, -1)) * (1.0 / std::sqrt(double(q.size(-1))));
  if (bool_mask.defined()) scores = scores.masked_fill(bool_mask, -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1, torch::kFloat).to(v.scalar_type()), vr);
}

// Whether bf16 autocast is on for `device`'s type in this thread.
inline bool autocast_enabled(const torch::Device& device) {
#if RHO_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device.type());
#else
  return device.is_cuda() ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

// bf16 autocast on `device`'s type while alive, as Python's torch.autocast: the ops autocast lists
// (matmuls, linear) run in bf16, the rest in fp32. Leaving the outermost scope clears autocast's
// cache of cast weights, which is stale once the optimizer steps. Disabled scopes do nothing.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, bool enabled) : type_(device.type()), active_(enabled) {
    if (!active_) return;
    prev_enabled_ = autocast_enabled(device);
#if RHO_TORCH_AT_LEAST(2, 4)
    prev_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::set_autocast_enabled(type_, true);
#else
    if (type_ == torch::kCUDA) {
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if RHO_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(type_, prev_enabled_);
    at::autocast::set_autocast_dtype(type_, prev_dtype_);
#else
    if (type_ == torch::kCUDA) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType type_;
  bool active_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// RMSNorm as HF computes it: weight * (x * rsqrt(mean(x^2) + eps)) with the normalisation in fp32,
// the result in x's dtype. On CUDA with PyTorch >= 2.8 and fp32 x and weight (training's fp32
// master weights and residual stream) the fused kernel runs it: one pass instead of six, and it
// keeps only x and the (B, T) scales for backward. Elsewhere the composite below (which also
// keeps HF's rounding of a bf16 x exactly: normalised in fp32, rounded, then scaled).
inline torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
#if RHO_TORCH_AT_LEAST(2, 8)
  if (x.is_cuda() && x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat)
    return at::rms_norm(x, {x.size(-1)}, weight, eps);
#endif
  auto xf = x.to(torch::kFloat);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

// zero_grad: 2.x defaults to set_to_none=true; 1.13 zeroes in place. Setting to none saves
// a memset and memory, and both versions accept the explicit argument.
template <class Opt>
inline void zero_grad(Opt& opt) {
#if RHO_TORCH_AT_LEAST(2, 0)
  opt.zero_grad(/*set_to_none=*/true);
#else
  opt.zero_grad();
#endif
}

// One AdamW step. On PyTorch >= 2.1 with CUDA parameters: the fused multi-tensor kernel
// (torch.optim.AdamW(fused=True)), on the state torch::optim::AdamW keeps, so checkpoints are the
// same either way; elsewhere torch::optim::AdamW's own per-parameter loop.
// The key of a parameter in an optimizer's state map: its TensorImpl's address, as a string in
// libtorch 1.13 and as the pointer itself in 2.x.
template <class Key>
Key state_key_of(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << impl;
    return s.str();
  } else {
    return Key(impl);
  }
}
using OptimizerStateKey = typename std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
inline OptimizerStateKey optimizer_state_key(const torch::Tensor& p) {
  return state_key_of<OptimizerStateKey>(p.unsafeGetTensorImpl());
}

inline void adamw_step(torch::optim::AdamW& opt) {
#if RHO_TORCH_AT_LEAST(2, 1)
  const auto& groups = opt.param_groups();
  if (!groups.empty() && !groups[0].params().empty() && groups[0].params()[0].is_cuda()) {
    torch::NoGradGuard no_grad;
    for (auto& group : opt.param_groups()) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
      std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto& slot = opt.state()[optimizer_state_key(p)];
        if (!slot) {
          auto st = std::make_unique<torch::optim::AdamWParamState>();
          st->step(0);
          st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          slot = std::move(st);
        }
        auto& st = static_cast<torch::optim::AdamWParamState&>(*slot);
        st.step(st.step() + 1);
        params.push_back(p);
        grads.push_back(p.grad());
        exp_avgs.push_back(st.exp_avg());
        exp_avg_sqs.push_back(st.exp_avg_sq());
        // The kernel reads the step from the device; a fill, not a copy, so the host does not wait.
        steps.push_back(torch::full({}, double(st.step()), p.options().dtype(torch::kFloat)));
      }
      if (params.empty()) continue;
      at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(),
                        std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(), o.eps(),
                        /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/c10::nullopt, /*found_inf=*/c10::nullopt);
    }
    return;
  }
#endif
  opt.step();
}

inline std::string version_string() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

}  // namespace rho::compat

// c10d (only for files that include the c10d headers and define RHO_C10D_INCLUDED first):
// in 1.13 ProcessGroupGloo / ProcessGroupNCCL implement the collectives as ProcessGroups;
// from 2.0 they derive from c10d::Backend, which a ProcessGroup wraps.
#if defined(RHO_C10D_INCLUDED) && !defined(RHO_COMPAT_C10D_DONE)
#define RHO_COMPAT_C10D_DONE
namespace rho::compat {
#if RHO_TORCH_AT_LEAST(2, 0)
using CommBackend = c10d::Backend;
#else
using CommBackend = c10d::ProcessGroup;
#endif
}  // namespace rho::compat
#endif

// The kineto profiler's events (only for files that include torch/csrc/autograd/profiler_kineto.h
// and define RHO_PROFILER_INCLUDED first): 1.13 times them in microseconds (startUs, durationUs),
// later versions in nanoseconds (startNs, durationNs). Chosen by which the event has.
#if defined(RHO_PROFILER_INCLUDED) && !defined(RHO_COMPAT_PROFILER_DONE)
#define RHO_COMPAT_PROFILER_DONE
namespace rho::compat {
namespace detail {
template <class E>
auto event_ns(const E& e, int) -> decltype(std::pair<int64_t, int64_t>(e.startNs(), e.durationNs())) {
  return {int64_t(e.startNs()), int64_t(e.durationNs())};
}
template <class E>
std::pair<int64_t, int64_t> event_ns(const E& e, long) {
  return {int64_t(e.startUs()) * 1000, int64_t(e.durationUs()) * 1000};
}
}  // namespace detail
// An event's start and duration in nanoseconds.
inline std::pair<int64_t, int64_t> event_span_ns(const torch::autograd::profiler::KinetoEvent& e) {
  return detail::event_ns(e, 0);
}
}  // namespace rho::compat
#endif
