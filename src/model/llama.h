// The Llama architecture exactly as Hugging Face's LlamaForCausalLM computes it: RMSNorm,
// rotary embeddings in HF's rotate-half layout, SwiGLU MLP, grouped-query attention, optional
// tied embeddings. The same module runs MistralForCausalLM (a sliding attention window) and
// Qwen2ForCausalLM (biases on q, k, v; per-layer windows): what differs is in LlamaConfig.
// Module and parameter names equal HF's state-dict keys (model.layers.0.self_attn.q_proj.weight,
// ...q_proj.bias), so HF checkpoints map one-to-one.
//
// Dimension legend: B batch, T sequence (new tokens), S attended positions (cache + new),
// C hidden_size, H attention heads, K key/value heads, D head dim (head_dim, or C / H),
// F intermediate size, V vocabulary.
#pragma once
#include <torch/torch.h>

#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace rho {

// Keys and values of earlier positions, one entry per layer, for incremental decoding.
// Prompts of different lengths share a batch left-padded: row b's first pad[b] positions are
// filler. No other position attends to them (a filler position sees itself, so its values stay
// finite), so each row computes what it would alone. Row b's rotary positions count from its
// first real token, as alone (and as HF's position_ids do): rotary attention depends only on
// position differences, so this changes rounding only. Empty pad: no row is padded.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer: (B, K, S, D)
  std::vector<int64_t> pad;         // (B) filler positions at the start of each row, or empty
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
  bool padded() const;
  // Keeps rows `rows` of every layer (and their filler counts), in that order; a row may repeat
  // (one cached prefix copied to each sequence that continues it).
  void select_rows(const std::vector<int64_t>& rows);
  // Drops the first n positions of every row (filler columns that every row has).
  void drop_columns(int64_t n);
};

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // (C)
  double eps;
};
TORCH_MODULE(RMSNorm);

// Which keys the T new queries may not see, (T, S) bool, true = hidden. The new queries sit at
// positions S - T .. S - 1 (the cache holds the first S - T). Query position p sees key j when
// j <= p and, with a window W > 0, p - W < j: itself and the W - 1 before it, the mask
// transformers builds (masking_utils.py: sliding_window_overlay and causal_mask_function).
torch::Tensor attention_mask(int64_t T, int64_t S, int64_t window, const torch::Device& device);

// HF's rotary inverse frequencies (D/2), fp32 as transformers computes them
// (modeling_rope_utils.py): 1 / theta^(2i/D), then the config's scaling (linear, llama3).
torch::Tensor rope_inv_freq(const LlamaConfig& c, const torch::Device& device = torch::kCPU);

struct LlamaAttentionImpl : torch::nn::Module {
  // `layer`: which window applies (LlamaConfig::layer_window).
  LlamaAttentionImpl(const LlamaConfig& c, int64_t layer);
  // x: (B, T, C); cos/sin: (T, D), or (B, 1, T, D) for a padded batch, for the new positions.
  // Appends to cache_k/cache_v when given. filler_keys (B, 1, T, S): true where a query must not
  // see a padded batch's filler (KVCache::pad); undefined when no row is padded.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* cache_k = nullptr, torch::Tensor* cache_v = nullptr,
                        const torch::Tensor& filler_keys = {});
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t H, K, D;
  int64_t window;  // sliding window W; 0: full causal attention
};
TORCH_MODULE(LlamaAttention);

struct LlamaMLPImpl : torch::nn::Module {
  explicit LlamaMLPImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

struct LlamaDecoderLayerImpl : torch::nn::Module {
  LlamaDecoderLayerImpl(const LlamaConfig& c, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* cache_k = nullptr, torch::Tensor* cache_v = nullptr,
                        const torch::Tensor& filler_keys = {});
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

struct LlamaModelImpl : torch::nn::Module {
  explicit LlamaModelImpl(const LlamaConfig& c);
  // ids: (B, T) int64 -> final-normed hidden states (B, T, C). Positions start at the cache's
  // length when a cache is given, less the row's filler when the cache is padded.
  torch::Tensor forward(const torch::Tensor& ids, KVCache* cache = nullptr);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  LlamaConfig config;
  // Activation checkpointing: in training, keep only each layer's input and recompute the layer
  // in backward (about one more forward's compute for a model that does not fit otherwise).
  bool checkpoint_layers = false;

 private:
  // Rotary tables for positions [0, n) and some beyond: cos/sin (>= n, D), rebuilt when n
  // outgrows them or the device or dtype changes.
  std::pair<torch::Tensor, torch::Tensor> rotary(int64_t n, const torch::Tensor& like);
  torch::Tensor cos_cache_, sin_cache_;
};
TORCH_MODULE(LlamaModel);

struct LlamaForCausalLMImpl : torch::nn::Module {
  explicit LlamaForCausalLMImpl(const LlamaConfig& c);
  // Final hidden states (B, T, C): what a loss head consumes.
  torch::Tensor hidden_states(const torch::Tensor& ids, KVCache* cache = nullptr) {
    return model->forward(ids, cache);
  }
  // The output matrix (V, C): lm_head.weight, or the embedding table when tied.
  torch::Tensor head_weight() const {
    return config.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
  }
  torch::Tensor logits(const torch::Tensor& hidden) { return torch::matmul(hidden, head_weight().t()); }
  torch::Tensor forward(const torch::Tensor& ids) { return logits(hidden_states(ids)); }  // (B, T, V)
  torch::Device device() const { return model->embed_tokens->weight.device(); }
  // HF's _init_weights: N(0, initializer_range) for linear and embedding weights, zero biases,
  // ones for norms.
  void init_weights();

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent (nullptr) when embeddings are tied
  LlamaConfig config;
  TokenizerId tokenizer;  // the tokenizer it is trained with (model/model_use.h); fingerprint 0: unknown
};
TORCH_MODULE(LlamaForCausalLM);

// Per-token next-token loss -log p(target | prefix), computed in fp32. logits (B, T, V),
// targets (B, T) -> (B, T).
torch::Tensor per_token_loss(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace rho
