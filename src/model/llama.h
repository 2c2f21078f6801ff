// The Llama architecture exactly as Hugging Face's LlamaForCausalLM computes it: RMSNorm,
// rotary embeddings in HF's rotate-half layout, SwiGLU MLP, grouped-query attention, optional
// tied embeddings. Module and parameter names equal HF's state-dict keys
// (model.layers.0.self_attn.q_proj.weight, ...), so HF checkpoints map one-to-one.
//
// Dimension legend: B batch, T sequence (new tokens), S attended positions (cache + new),
// C hidden_size, H attention heads, K key/value heads, D head dim (C / H), F intermediate
// size, V vocabulary.
#pragma once
#include <torch/torch.h>

#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace rho {

// Keys and values of earlier positions, one entry per layer, for incremental decoding.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer: (B, K, S, D)
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
};

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // (C)
  double eps;
};
TORCH_MODULE(RMSNorm);

struct LlamaAttentionImpl : torch::nn::Module {
  explicit LlamaAttentionImpl(const LlamaConfig& c);
  // x: (B, T, C); cos/sin: (T, D) for the new positions. Appends to cache_k/cache_v when given.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* cache_k = nullptr, torch::Tensor* cache_v = nullptr);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t H, K, D;
};
TORCH_MODULE(LlamaAttention);

struct LlamaMLPImpl : torch::nn::Module {
  explicit LlamaMLPImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

struct LlamaDecoderLayerImpl : torch::nn::Module {
  explicit LlamaDecoderLayerImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::Tensor* cache_k = nullptr, torch::Tensor* cache_v = nullptr);
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

struct LlamaModelImpl : torch::nn::Module {
  explicit LlamaModelImpl(const LlamaConfig& c);
  // ids: (B, T) int64 -> final-normed hidden states (B, T, C). Positions start at the cache's
  // length when a cache is given.
  torch::Tensor forward(const torch::Tensor& ids, KVCache* cache = nullptr);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  LlamaConfig config;
  // Activation checkpointing: in training, keep only each layer's input and recompute the layer
  // in backward (about one more forward's compute for a model that does not fit otherwise).
  bool checkpoint_layers = false;

 private:
  // Rotary tables for positions [0, n): cos/sin (n, D), rebuilt when n, device or dtype grows.
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
  // HF's _init_weights: N(0, initializer_range) for linear and embedding weights, ones for norms.
  void init_weights();

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent (nullptr) when embeddings are tied
  LlamaConfig config;
  TokenizerId tokenizer;  // the tokenizer it is trained with (model/compat.h); fingerprint 0: unknown
};
TORCH_MODULE(LlamaForCausalLM);

// Per-token next-token loss -log p(target | prefix), computed in fp32. logits (B, T, V),
// targets (B, T) -> (B, T).
torch::Tensor per_token_loss(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace rho
