// The LM head and the next-token loss fused into one chunked operation.
//
// The plain path (logits = h W^T, then cross_entropy) materialises a (N, V) logits tensor, its
// log-softmax and, in backward, its gradient: at TinyLlama's V = 32,000 and T = 2,048 that is
// 262 MB per sequence for each of them. The fused op computes the per-token loss chunk by chunk
// and keeps only what backward needs (h, W, targets and the per-token log-sum-exp). Backward
// recomputes logits only for the tokens whose incoming gradient is nonzero, so under SLM (where
// unselected tokens get weight 0) the head's backward cost and memory scale with the kept
// fraction k rather than with N.
//
// Dimension legend: N tokens (B * T), C hidden size, V vocabulary.
#pragma once
#include <torch/torch.h>


namespace rho {

// How many rows of a head call can have a nonzero gradient, told after its forward (SLM learns
// it from the selection, which runs between forward and backward). Backward then gathers those
// rows with a top-k of fixed size instead of searching for them (nonzero(): a host
// synchronisation on an accelerator). `most` must be at least the true count: rows beyond it
// would lose their gradient (on the CPU backward checks this). -1: unknown, searched.
struct KeptRows : torch::CustomClassHolder {
  int64_t most = -1;
};

struct HeadOptions {
  // CLM: every token's loss has a gradient, so backward need not look for the kept rows.
  bool every_row_trained = false;
  c10::intrusive_ptr<KeptRows> kept_rows;  // SLM: filled in before backward; null: searched
  bool fused = true;         // false: the plain path (full logits + cross_entropy), the reference
  int64_t chunk_tokens = 0;  // rows of logits computed at once; 0 = auto (head_chunk_tokens)
};

// The automatic chunk on the CPU: about 2 Mi floats (8 MiB) of logits, 128 to 1024 rows (bench/: BM_Head
// at V = 4096 ran 256 and 512 rows fastest, 64 and 2048 rows 25% and 65% slower).
// On an accelerator about 32 Mi floats (128 MiB), 128 to 8192 rows: there the cost of a chunk is
// the per-chunk update of the (V, C) gradient, which larger chunks amortise.
int64_t head_chunk_tokens(int64_t vocab, int64_t n_tokens, int64_t requested = 0, bool accelerator = false);

// Per-token loss -log softmax(h W^T)[target] in fp32. hidden (N, C), weight (V, C), targets (N)
// int64 -> (N). Differentiable in hidden and weight. The matmuls run in bf16 when bf16 autocast is
// on for hidden's device (or the weight is bf16), forward and backward alike (autocast itself is
// off when the autograd engine runs backward); log-sum-exp, softmax and the gradients' sums are
// fp32.
torch::Tensor fused_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                              const torch::Tensor& targets, int64_t chunk_tokens = 0,
                              bool every_row_trained = false, c10::intrusive_ptr<KeptRows> kept_rows = {});

}  // namespace rho
