#include "train/memory_plan.h"

#include <algorithm>

#include "common/error.h"
#include "model/fused_head.h"

namespace rho {
namespace {

bool on_cpu(const std::string& device) {
  if (device != "cpu" && device != "cuda") fail("--device must be cuda or cpu, got " + device);
  return device == "cpu";
}

// Bytes one token keeps outside the decoder layers: the embedding's output (the first layer's
// input), the final norm's tensors and what the fused head keeps per row.
int64_t outside_layers_per_token(const LlamaConfig& c, bool cpu) {
  const int64_t C = c.hidden_size;
  // cpu: x0, the norm's normalised and weighted outputs, rsqrt, the head's per-row log-sum-exp and loss.
  // cuda: x0 (fp32), the fused norm's fp32 output and rstd, its bf16 cast for the head.
  return cpu ? 4 * (3 * C + 3) : 4 * C + 4 * C + 4 + 2 * C;
}

int64_t head_chunk_bytes(const LlamaConfig& c, int64_t tokens, bool cpu) {
  // The logits of one chunk and their gradient (fp32), the largest transient of the head.
  return 2 * 4 * head_chunk_tokens(c.vocab_size, tokens, 0, !cpu) * c.vocab_size;
}

}  // namespace

int64_t activation_bytes_per_token(const LlamaConfig& c, int64_t T, const std::string& device) {
  const int64_t C = c.hidden_size, D = c.head_dim(), H = c.num_attention_heads, Q = H * D,
                KV = c.num_key_value_heads * D, I = c.intermediate_size;
  if (on_cpu(device)) {
    // fp32, libtorch 1.13 (common/torch_compat.h's composite attention), saved for backward:
    //   each RMSNorm: its normalised and its weighted output (2C) and rsqrt (1)      2 x (2C + 1)
    //   rotary: 1.13's mul keeps both factors, so q and k and their rotated halves    2Q + 2KV
    //   attention: q scaled, k and v repeated to H heads (3Q), the softmax (H x T per
    //     token: B x H x T x T in all), o_proj's input (Q)                            4Q + H T
    //   the residual after attention (C) and the layer's output (C)                   2C
    //   SwiGLU: gate, up and silu(gate) * up (3I)                                     3I
    return 4 * (2 * (2 * C + 1) + 2 * Q + 2 * KV + 4 * Q + H * T + 2 * C + 3 * I);
  }
  // cuda, bf16 autocast, fused RMSNorm and fused (flash) attention, counted (not yet measured):
  //   each RMSNorm: rstd (4); its fp32 output cast to bf16 per consuming linear: 3 casts
  //     before q/k/v, 2 before gate/up                                                2 x 4 + 2 x 5C
  //   attention: q, k, v as the kernel takes them (bf16), its output and o_proj's
  //     input (bf16), the log-sum-exp (fp32 per head)                                 2 (Q + 2KV) + 4Q + 4H
  //   the residual after attention and the layer's output (fp32)                      8C
  //   SwiGLU: gate, up and the product (bf16)                                         6I
  return 8 + 10 * C + 2 * (Q + 2 * KV) + 4 * Q + 4 * H + 8 * C + 6 * I;
}

int64_t activation_bytes(const LlamaConfig& c, int64_t B, int64_t T, const std::string& device, bool checkpointing) {
  const bool cpu = on_cpu(device);
  const int64_t tokens = B * T, layer = activation_bytes_per_token(c, T, device);
  const int64_t outside = outside_layers_per_token(c, cpu) * tokens;
  if (!checkpointing) return c.num_hidden_layers * layer * tokens + outside;
  // Each layer keeps its input (the residual stream's dtype: fp32); backward rebuilds one layer
  // at a time.
  return c.num_hidden_layers * 4 * c.hidden_size * tokens + layer * tokens + outside;
}

std::vector<PlanRow> plan_memory(const PlanInput& in) {
  const bool cpu = on_cpu(in.device);
  const LlamaConfig& c = in.model;
  const int64_t P = c.num_params(), N = in.ranks;
  const int64_t largest = 4 * c.vocab_size * c.hidden_size;  // the embedding (or head): the largest tensor
  // Gradient buckets in flight at the peak (sharded_optimizer.cpp): the largest tensor's (its own
  // bucket when it exceeds --bucket-mb) and one more, each with its slice-sized sum on the way.
  const int64_t in_flight = std::max(in.bucket_bytes, largest) + in.bucket_bytes;
  const int64_t slices = 4 * ((P + N - 1) / N);
  std::vector<PlanRow> rows;
  for (auto shard : {ShardLevel::None, ShardLevel::Optimizer, ShardLevel::Gradients}) {
    if (shard != ShardLevel::None && N < 2) continue;
    PlanRow r;
    r.shard = shard;
    r.weights = 4 * P + (cpu ? 0 : 2 * c.num_matmul_params());
    if (shard == ShardLevel::None) r.gradients = 4 * P * (N > 1 ? 2 : 1);
    // optimizer: without accumulation the peak is at the step's last gradient, which .grad lacks
    // while a bucket holds it; with accumulation .grad is whole from the first micro-batch on.
    else if (shard == ShardLevel::Optimizer) r.gradients = 4 * P + slices + in_flight / N + (in.grad_accum > 1 ? in_flight : 0);
    else r.gradients = slices + in_flight + in_flight / N;
    r.optimizer = shard == ShardLevel::None ? 8 * P : 2 * slices;
    r.activations = activation_bytes(c, in.micro_batch, in.seq_len, in.device, in.activation_checkpointing) *
                        (in.slm ? in.graphs_per_step : 1) +
                    head_chunk_bytes(c, in.micro_batch * in.seq_len, cpu);
    if (in.slm && in.online_reference) {
      const LlamaConfig& ref = in.reference;
      r.reference = (cpu ? 4 : 2) * ref.num_params() +
                    (cpu ? 4 : 2) * in.micro_batch * in.seq_len * (2 * ref.intermediate_size + ref.hidden_size) +
                    head_chunk_bytes(ref, in.micro_batch * in.seq_len, cpu);
    }
    rows.push_back(r);
  }
  return rows;
}

}  // namespace rho
