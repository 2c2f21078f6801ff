#include "model/llama.h"

#include <algorithm>
#include <cmath>

#include "common/torch_compat.h"

namespace rho {
namespace {

torch::nn::Linear linear(int64_t in, int64_t out, bool bias = false) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// HF rotate_half: (x1, x2) -> (-x2, x1) over the two halves of the head dim.
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

// x: (B, n, T, D); cos/sin: (T, D) or (B, 1, T, D), broadcast over batch and heads. What
// autograd keeps for backward depends on the version: PyTorch 2.x saves only the factor a
// gradient needs (cos and sin, not x); Debian's 1.13 saves both factors of each product, so x and
// rotate_half(x) too (measured: MemoryPlan's activation test, train/memory_plan.h).
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

// silu(gate) * up, whose backward recomputes silu(gate) instead of keeping it: the (B, T, F)
// activation is the MLP's largest. The gradients are the ops autograd would run, in the same
// order, so they are bit-identical to the plain expression's.
struct SwiGLUFunction : torch::autograd::Function<SwiGLUFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return torch::silu(gate) * up;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &gate = saved[0], &up = saved[1], &g = grads[0];
    return {at::silu_backward(g * up, gate), g * torch::silu(gate)};
  }
};

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  if (!torch::GradMode::is_enabled() || !(gate.requires_grad() || up.requires_grad())) return torch::silu(gate) * up;
  return SwiGLUFunction::apply(gate, up);
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

bool KVCache::padded() const {
  return std::any_of(pad.begin(), pad.end(), [](int64_t p) { return p > 0; });
}

void KVCache::select_rows(const std::vector<int64_t>& rows) {
  if (!k.empty()) {
    const auto index = torch::tensor(rows, torch::kInt64).to(k[0].device());
    for (auto& t : k) t = t.index_select(0, index);
    for (auto& t : v) t = t.index_select(0, index);
  }
  if (pad.empty()) return;
  std::vector<int64_t> kept;
  for (int64_t r : rows) kept.push_back(pad[size_t(r)]);
  pad = kept;
}

void KVCache::drop_columns(int64_t n) {
  for (auto& t : k) t = t.slice(2, n);
  for (auto& t : v) t = t.slice(2, n);
  for (auto& p : pad) p -= n;
}

torch::Tensor attention_mask(int64_t T, int64_t S, int64_t window, const torch::Device& device) {
  auto ones = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(device));
  // Row t is position p = S - T + t. Future keys: j > p, i.e. j - t >= S - T + 1.
  auto hidden = ones.triu(S - T + 1);
  // Keys out of the window: j <= p - W, i.e. j - t <= S - T - W (none when W >= S).
  if (window > 0 && window < S) hidden |= ones.tril(S - T - window);
  return hidden;
}

torch::Tensor rope_inv_freq(const LlamaConfig& c, const torch::Device& device) {
  const int64_t D = c.head_dim();
  auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
  // 1 / theta^(2i/D), i < D/2.
  auto inv_freq = 1.0 / torch::pow(c.rope_theta, torch::arange(0, D, 2, f32) / double(D));
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "linear") return inv_freq / r.factor;  // positions / factor
  if (r.type != "llama3") return inv_freq;
  // Llama 3.1's scaling: wavelengths longer than original/low_freq_factor (the slow dimensions,
  // which never turned a full circle in pre-training) are stretched by `factor`; those shorter
  // than original/high_freq_factor are kept; in between, a blend linear in original/wavelength.
  const double orig = double(r.original_max_position_embeddings);
  const double low_wavelen = orig / r.low_freq_factor, high_wavelen = orig / r.high_freq_factor;
  auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / r.factor, inv_freq);
  auto smooth = (orig / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  auto blended = (1 - smooth) * scaled / r.factor + smooth * scaled;
  auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return torch::where(medium, blended, scaled);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  return compat::rms_norm(x, weight, eps);  // normalised in fp32 whatever the activation dtype, as HF does
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c, int64_t layer)
    : H(c.num_attention_heads), K(c.num_key_value_heads), D(c.head_dim()), window(c.layer_window(layer)) {
  q_proj = register_module("q_proj", linear(c.hidden_size, H * D, c.qkv_bias()));
  k_proj = register_module("k_proj", linear(c.hidden_size, K * D, c.qkv_bias()));
  v_proj = register_module("v_proj", linear(c.hidden_size, K * D, c.qkv_bias()));
  o_proj = register_module("o_proj", linear(H * D, c.hidden_size, c.o_bias()));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin, torch::Tensor* cache_k,
                                          torch::Tensor* cache_v, const torch::Tensor& filler_keys) {
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
  // k/v keep their K heads: compat's attention serves each to its H/K query heads.
  // Plain causal attention (the fused kernel on torch 2.x) unless a cache, a window shorter than
  // the keys or a padded batch needs a mask; one new token after a cache, with no window or filler
  // to hide, sees every cached position and needs none (which lets PyTorch 2.x use its fused kernels).
  const int64_t S = k.size(2);
  const bool windowed = window > 0 && window < S;
  const bool padded = filler_keys.defined();
  torch::Tensor y;  // (B, H, T, D)
  if (!cached && !windowed && !padded) {
    y = compat::causal_attention(q, k, v);
  } else if (T == 1 && !windowed && !padded) {
    y = compat::attention_with_mask(q, k, v, torch::Tensor());
  } else {
    auto hidden = attention_mask(T, S, window, x.device());  // (T, S)
    if (padded) hidden = hidden.logical_or(filler_keys);     // (B, 1, T, S)
    y = compat::attention_with_mask(q, k, v, hidden);
  }
  return o_proj(y.transpose(1, 2).reshape({B, T, H * D}));
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", linear(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", linear(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  return down_proj(swiglu(gate_proj(x), up_proj(x)));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c, int64_t layer) {
  self_attn = register_module("self_attn", LlamaAttention(c, layer));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin, torch::Tensor* cache_k,
                                             torch::Tensor* cache_v, const torch::Tensor& filler_keys) {
  auto h = x + self_attn(input_layernorm(x), cos, sin, cache_k, cache_v, filler_keys);
  return h + mlp(post_attention_layernorm(h));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) : config(c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c, i));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

std::pair<torch::Tensor, torch::Tensor> LlamaModelImpl::rotary(int64_t n, const torch::Tensor& like) {
  if (!cos_cache_.defined() || cos_cache_.size(0) < n || cos_cache_.device() != like.device() ||
      cos_cache_.scalar_type() != like.scalar_type()) {
    // Twice what is asked, up to the model's positions: decoding one token at a time rebuilds
    // log(n) times, and a 128k-position model does not hold 128k rows it never uses.
    const int64_t len = std::max(n, std::min(2 * n, config.max_position_embeddings));
    auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(like.device());
    // Angles in fp32 like HF: position * inv_freq.
    auto freqs = torch::outer(torch::arange(len, f32), rope_inv_freq(config, like.device()));  // (len, D/2)
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
  torch::Tensor filler_keys;  // (B, 1, T, S) when rows are padded
  if (cache && cache->padded()) {
    TORCH_CHECK(int64_t(cache->pad.size()) == ids.size(0), "KVCache: ", cache->pad.size(), " pads for ", ids.size(0), " rows");
    auto i64 = torch::TensorOptions().dtype(torch::kLong).device(x.device());
    auto pad = torch::tensor(cache->pad, torch::kLong).to(x.device());    // (B)
    auto query = torch::arange(start, start + T, i64);                       // (T) index in the row
    auto position = (query.unsqueeze(0) - pad.unsqueeze(1)).clamp_min(0);     // (B, T) position in the prompt
    cos = cos_all.index_select(0, position.flatten()).view({-1, 1, T, cos_all.size(1)});  // (B, 1, T, D)
    sin = sin_all.index_select(0, position.flatten()).view({-1, 1, T, sin_all.size(1)});
    auto key = torch::arange(start + T, i64);                                 // (S)
    auto filler = key.unsqueeze(0) < pad.unsqueeze(1);                        // (B, S)
    auto other = key.unsqueeze(0) != query.unsqueeze(1);                      // (T, S)
    filler_keys = filler.unsqueeze(1).logical_and(other.unsqueeze(0)).unsqueeze(1);  // (B, 1, T, S)
  }
  if (cache && cache->k.empty()) {
    cache->k.resize(layers->size());
    cache->v.resize(layers->size());
  }
  const bool recompute = checkpoint_layers && is_training() && torch::GradMode::is_enabled() && !cache;
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = layers->ptr<LlamaDecoderLayerImpl>(i);
    if (cache) x = layer->forward(x, cos, sin, &cache->k[i], &cache->v[i], filler_keys);
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
    const std::string& name = p.key();
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) p.value().zero_();
    else if (p.value().dim() == 1) p.value().fill_(1.0);  // RMSNorm weights
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
