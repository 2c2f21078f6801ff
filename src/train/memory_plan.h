// `rho plan`: the bytes one GPU (or CPU process) holds to train a model with rho, under each
// --shard, and whether that fits. Counted from what rho's code keeps, not from a rule of thumb:
//
//   weights      fp32 parameters (4 P), whole on every rank (ZeRO-1/2 do not split them); in bf16
//                runs also the bf16 copies autocast makes of the matmul weights, which the
//                linears keep for backward (2 P_matmul)
//   gradients    none:      .grad (4 P), plus the all-reduce's buckets (4 P) with several ranks
//                optimizer: .grad (4 P), this rank's slice sums (4 P / N), the sums on the way,
//                           and with accumulation the buckets in flight beside a whole .grad
//                gradients: the slice sums (4 P / N), the buckets in flight and their sums
//   optimizer    AdamW's two fp32 moments: 8 P, or 8 P / N sharded
//   activations  what backward needs, per token and layer (activation_bytes_per_token), times B*T,
//                plus the LM head's logits chunk; with --activation-checkpointing each layer keeps
//                its input only and one layer's activations exist at a time, in backward
//   reference    SLM with an online reference: its weights (bf16 on a GPU, fp32 on the CPU) and
//                one forward's largest tensors; offline: nothing (scores are read from disk)
//
// Legend: P parameters, N ranks, B sequences a micro-batch, T tokens each, L layers, C hidden,
// Q = heads x head_dim, KV = key/value heads x head_dim, I intermediate, H heads, V vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "train/options.h"

namespace rho {

struct PlanInput {
  LlamaConfig model;
  LlamaConfig reference;   // SLM online: the reference's shape (the model's unless given)
  int64_t ranks = 1, seq_len = 2048, micro_batch = 1, grad_accum = 1;
  int64_t memory_bytes = 0;  // one GPU's (or process's) memory; 0: no verdict
  bool slm = false, online_reference = false;
  // SLM selecting over the whole step (--selection-scope batch or stream) runs every micro-batch's
  // forward before its one backward, so it keeps --grad-accum graphs; otherwise one.
  int64_t graphs_per_step = 1;
  bool activation_checkpointing = false;
  // How the step runs: "cuda" (bf16 autocast, fused attention: no T x T scores kept) or "cpu"
  // (fp32, Debian's libtorch 1.13: attention weights kept, B x H x T x T).
  std::string device = "cuda";
  int64_t bucket_bytes = 25 << 20;  // the gradient buckets (dist/grad_reducer.h, sharded_optimizer.h)
};

struct PlanRow {
  ShardLevel shard = ShardLevel::None;
  int64_t weights = 0, gradients = 0, optimizer = 0, activations = 0, reference = 0;
  int64_t total() const { return weights + gradients + optimizer + activations + reference; }
};

// Bytes one token keeps for backward in one decoder layer (the layer's saved tensors).
int64_t activation_bytes_per_token(const LlamaConfig& c, int64_t seq_len, const std::string& device);
// Activations of one micro-batch, the whole model (the plan's activations column).
int64_t activation_bytes(const LlamaConfig& c, int64_t micro_batch, int64_t seq_len, const std::string& device,
                         bool checkpointing);

// One row per --shard level (none only for one rank).
std::vector<PlanRow> plan_memory(const PlanInput& in);

}  // namespace rho
