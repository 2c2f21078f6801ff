#include "model/llama.h"

#include "compat/torch_compat.h"

namespace rho {
namespace {

torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// HF rotate_half: (x1, x2) -> (-x2, x1) over the two halves of the head dim.
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

// x: (B, n, T, D); cos/sin: (T, D) broadcast over batch and heads.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

// A decoder layer whose activations are not kept: forward runs without a graph, backward runs the
// layer again (in the forward's autocast state) and backpropagates through that.
struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, LlamaDecoderLayerImpl* layer) {
    ctx->save_for_backward({x, cos, sin});
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["bf16"] = compat::autocast_enabled(x.device());
    torch::NoGradGuard no_grad;
    return layer->forward(x, cos, sin);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<LlamaDecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode grad_on(true);
      compat::AutocastScope autocast(x.device(), ctx->saved_data["bf16"].toBool());
      y = layer->forward(x, saved[1], saved[2]);
    }
    torch::autograd::backward({y}, {grads[0]});  // the layer's parameters get their gradients here
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Normalise in fp32 whatever the activation dtype, as HF does.
  auto xf = x.to(torch::kFloat);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c)
    : H(c.num_attention_heads), K(c.num_key_value_heads), D(c.head_dim()) {
  q_proj = register_module("q_proj", linear(c.hidden_size, H * D));
  k_proj = register_module("k_proj", linear(c.hidden_size, K * D));
  v_proj = register_module("v_proj", linear(c.hidden_size, K * D));
  o_proj = register_module("o_proj", linear(H * D, c.hidden_size));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin, torch::Tensor* cache_k,
                                          torch::Tensor* cache_v) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x).view({B, T, H, D}).transpose(1, 2);  // (B, H, T, D)
  auto k = k_proj(x).view({B, T, K, D}).transpose(1, 2);  // (B, K, T, D)
  auto v = v_proj(x).view({B, T, K, D}).transpose(1, 2);  // (B, K, T, D)
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  const bool cached = cache_k && cache_k->defined();
  if (cache_k) {
    if (cached) {
      k = torch::cat({*cache_k, k}, 2);  // (B, K, S, D)
      v = torch::cat({*cache_v, v}, 2);
    }
    *cache_k = k;
    *cache_v = v;
  }
  // Grouped-query attention: each key/value head serves H/K query heads (HF repeat_kv).
  if (K != H) {
    k = k.repeat_interleave(H / K, 1);  // (B, H, S, D)
    v = v.repeat_interleave(H / K, 1);
  }
  torch::Tensor y;
  if (!cached) {
    y = compat::causal_attention(q, k, v);  // (B, H, T, D)
  } else {
    // New token t sits at absolute position S - T + t and may see positions <= that: one new
    // token sees everything cached, so it needs no mask.
    const int64_t S = k.size(2);
    torch::Tensor mask;
    if (T > 1)
      mask = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(S - T + 1);
    y = compat::attention_with_mask(q, k, v, mask);
  }
  return o_proj(y.transpose(1, 2).reshape({B, T, H * D}));
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", linear(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", linear(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin, torch::Tensor* cache_k,
                                             torch::Tensor* cache_v) {
  auto h = x + self_attn(input_layernorm(x), cos, sin, cache_k, cache_v);
  return h + mlp(post_attention_layernorm(h));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) : config(c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

std::pair<torch::Tensor, torch::Tensor> LlamaModelImpl::rotary(int64_t n, const torch::Tensor& like) {
  if (!cos_cache_.defined() || cos_cache_.size(0) < n || cos_cache_.device() != like.device() ||
      cos_cache_.scalar_type() != like.scalar_type()) {
    const int64_t D = config.head_dim();
    const int64_t len = std::max(n, config.max_position_embeddings);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(like.device());
    // inv_freq = 1 / theta^(2i/D), i < D/2; computed in fp32 like HF.
    auto inv_freq = 1.0 / torch::pow(config.rope_theta, torch::arange(0, D, 2, f32) / double(D));
    auto freqs = torch::outer(torch::arange(len, f32), inv_freq);  // (len, D/2)
    auto emb = torch::cat({freqs, freqs}, -1);                      // (len, D)
    cos_cache_ = emb.cos().to(like.scalar_type());
    sin_cache_ = emb.sin().to(like.scalar_type());
  }
  return {cos_cache_, sin_cache_};
}

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& ids, KVCache* cache) {
  const int64_t T = ids.size(1);
  auto x = embed_tokens(ids);  // (B, T, C)
  const int64_t start = cache ? cache->length() : 0;
  auto [cos_all, sin_all] = rotary(start + T, x);
  auto cos = cos_all.slice(0, start, start + T), sin = sin_all.slice(0, start, start + T);  // (T, D)
  if (cache && cache->k.empty()) {
    cache->k.resize(layers->size());
    cache->v.resize(layers->size());
  }
  const bool recompute = checkpoint_layers && is_training() && torch::GradMode::is_enabled() && !cache;
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = layers->ptr<LlamaDecoderLayerImpl>(i);
    if (cache) x = layer->forward(x, cos, sin, &cache->k[i], &cache->v[i]);
    else if (recompute) x = CheckpointedLayer::apply(x, cos, sin, layer.get());
    else x = layer->forward(x, cos, sin);
  }
  return norm(x);
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c) : config(c) {
  c.validate("model config");
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", linear(c.hidden_size, c.vocab_size));
  init_weights();
}

void LlamaForCausalLMImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    if (p.value().dim() == 1) p.value().fill_(1.0);  // RMSNorm weights
    else p.value().normal_(0.0, config.initializer_range);
  }
}

torch::Tensor per_token_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  const int64_t B = targets.size(0), T = targets.size(1);
  auto flat = logits.reshape({B * T, logits.size(-1)}).to(torch::kFloat);  // (B*T, V)
  return torch::nn::functional::cross_entropy(
             flat, targets.reshape({B * T}),
             torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view({B, T});
}

}  // namespace rho
