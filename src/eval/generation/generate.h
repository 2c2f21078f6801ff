// Text generation with the KV cache: greedy or sampled (temperature, nucleus top-p), stop
// strings, EOS, a new-token budget and the model's position limit.
//
// Batches: generate_batch() runs up to batch_size prompts per forward pass, neighbours in token
// length, left-padded to the longest (KVCache::pad: no position attends to the filler, so a
// prompt generates what it generates alone, within float rounding). Rows that finish leave the batch and the cache, so the rest run on.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace rho {

struct GenerateOptions {
  int64_t max_new_tokens = 256;
  double temperature = 0.0;  // 0: greedy (argmax); > 0: sample from softmax(logits / T)
  double top_p = 1.0;        // sampling only: keep the smallest set of tokens with mass >= top_p
  std::vector<std::string> stop;  // stop when the decoded new text contains one; it is cut off
  bool stop_at_eos = true;
  uint64_t seed = 0;         // sampling draws; the same seed gives the same text
  bool use_cache = true;     // false: re-run the whole sequence every step (the reference path)
  int64_t batch_size = 8;    // generate_batch: most prompts per forward pass
  // Most prompt tokens kept (the start is cut beyond); 0: prompt_budget(). The harness mode keeps
  // every prompt that fits the positions, as vLLM does, and stops at the last position.
  int64_t max_prompt_tokens = 0;
};

struct Generation {
  std::vector<int32_t> tokens;  // every new token generated (the stop string's tokens included)
  std::string text;             // decoded new text, cut before the first stop string
  std::string finish;           // "stop" | "eos" | "length" (max_new_tokens) | "context" (positions)
  int64_t prompt_tokens = 0;    // after truncation
  bool prompt_truncated = false;  // prompt longer than the model's positions: its start was cut
};

// The most prompt tokens kept so that max_new_tokens still fit in the model's positions, but
// never fewer than half the positions (a long prompt is worth more than an unused budget):
// max(P - max_new_tokens, P / 2), at most P - 1, with P = max_position_embeddings.
int64_t prompt_budget(int64_t max_positions, int64_t max_new_tokens);

// Generates after `prompt` (token ids). A prompt longer than prompt_budget() loses its start.
// Generation ends at max_new_tokens, EOS, a stop string, or the model's last position. The model
// is run without gradients.
Generation generate(LlamaForCausalLM& model, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                    const GenerateOptions& opts);

// Several prompts; results in the order given. Each prompt's sampling stream is seeded with
// opts.seed + its index, so its text does not depend on how prompts were grouped.
std::vector<Generation> generate_batch(LlamaForCausalLM& model, const Tokenizer& tok,
                                       const std::vector<std::vector<int32_t>>& prompts,
                                       const GenerateOptions& opts);

}  // namespace rho
