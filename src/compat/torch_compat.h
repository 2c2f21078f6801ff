// Every difference between libtorch versions rho builds against lives here:
// Debian's CPU libtorch 1.13 and the PyTorch 2.x libtorch on GPU machines.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#define RHO_TORCH_AT_LEAST(maj, min) \
  (TORCH_VERSION_MAJOR > (maj) || (TORCH_VERSION_MAJOR == (maj) && TORCH_VERSION_MINOR >= (min)))

namespace rho::compat {

// Causal attention. q: (B, H, T, D), k/v: (B, H, S, D) with S == T. Returns (B, H, T, D).
// torch >= 2.0 has the fused kernel (flash / memory-efficient on CUDA); 1.13 gets the plain
// softmax(QK^T/sqrt(D) + mask) V, which is what the fused kernels compute.
inline torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v) {
#if RHO_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
#else
  const int64_t T = q.size(2), S = k.size(2);
  // The scores (B, H, T, S) are the step's largest tensor: scale q (D wide) instead of them, and
  // mask them in place (matmul's backward does not need its output), two fewer passes over them.
  auto scores = torch::matmul(q * (1.0 / std::sqrt(double(q.size(-1)))), k.transpose(-2, -1));
  auto mask = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(q.device()))
                  .triu(S - T + 1);
  scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1).to(v.scalar_type()), v);
#endif
}

// Attention over a query block that attends to all of k/v (no mask): used by KV-cache decoding
// where the new tokens see every cached position plus a causal mask among themselves.
inline torch::Tensor attention_with_mask(const torch::Tensor& q, const torch::Tensor& k,
                                         const torch::Tensor& v, const torch::Tensor& bool_mask) {
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(q.size(-1))));
  scores = scores.masked_fill(bool_mask, -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1).to(v.scalar_type()), v);
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
