#include "eval/generation/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/error.h"

namespace rho {
namespace {

// The next token of one row from its logits (V, on the host in double): a draw from the tempered
// softmax restricted to the top-p nucleus. Done on the CPU in double so a seed gives the same
// draws whatever libtorch's kernels do.
int32_t sample_token(const torch::Tensor& logits, const GenerateOptions& opts, std::mt19937_64& rng) {
  const double* l = logits.data_ptr<double>();
  const int64_t V = logits.numel();
  const double top = *std::max_element(l, l + V);
  std::vector<double> p(V);
  double total = 0;
  for (int64_t i = 0; i < V; ++i) total += p[i] = std::exp((l[i] - top) / opts.temperature);
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  // Highest probability first; equal ones by id so the order is fully determined.
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] != p[b] ? p[a] > p[b] : a < b; });
  // The nucleus: the smallest prefix of `order` whose mass reaches top_p (at least one token).
  double kept_mass = 0;
  int64_t kept = 0;
  while (kept < V && (kept == 0 || kept_mass < opts.top_p * total)) kept_mass += p[order[kept++]];
  double u = std::uniform_real_distribution<double>(0.0, kept_mass)(rng);
  for (int64_t i = 0; i < kept; ++i) {
    u -= p[order[i]];
    if (u < 0) return order[i];
  }
  return order[kept - 1];  // u landed on the rounding edge
}

// The decoded text of `new_tokens`, as it reads after the prompt. A few prompt tokens are decoded
// with them and their text removed again: sentencepiece drops the leading space of a text's
// first piece, which would glue "Answer:" to the answer.
std::string decode_continuation(const Tokenizer& tok, const std::vector<int32_t>& prompt,
                                const std::vector<int32_t>& new_tokens) {
  const size_t ctx = std::min<size_t>(8, prompt.size());
  std::vector<int32_t> head(prompt.end() - ctx, prompt.end());
  const std::string head_text = tok.decode(head);
  head.insert(head.end(), new_tokens.begin(), new_tokens.end());
  std::string all = tok.decode(head);
  if (all.compare(0, head_text.size(), head_text) == 0) return all.substr(head_text.size());
  return tok.decode(new_tokens);  // the boundary split a character: fall back to the plain text
}

// Position of the first stop string in `text`, or npos.
size_t find_stop(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = std::string::npos;
  for (const auto& s : stops)
    if (!s.empty()) best = std::min(best, text.find(s));
  return best;
}

// Cuts each prompt to its budget (keeping its end) and records its length in `out`.
void fit_prompts(std::vector<std::vector<int32_t>>& prompts, int64_t max_pos, const GenerateOptions& opts,
                 std::vector<Generation>& out) {
  const int64_t budget = opts.max_prompt_tokens > 0 ? std::min(opts.max_prompt_tokens, max_pos - 1)
                                                    : prompt_budget(max_pos, opts.max_new_tokens);
  for (size_t b = 0; b < prompts.size(); ++b) {
    auto& p = prompts[b];
    if (int64_t(p.size()) > budget) {
      p.erase(p.begin(), p.end() - budget);
      out[b].prompt_truncated = true;
    }
    out[b].prompt_tokens = int64_t(p.size());
  }
}

// The prompts left-padded to the longest, (B, L): row b holds pad[b] filler ids (0, never
// attended to), then its prompt; the filler counts go into `cache`.
torch::Tensor left_padded(const std::vector<std::vector<int32_t>>& prompts, KVCache& cache) {
  int64_t L = 0;
  for (auto& p : prompts) L = std::max(L, int64_t(p.size()));
  std::vector<int64_t> flat;
  for (auto& p : prompts) {
    cache.pad.push_back(L - int64_t(p.size()));
    flat.insert(flat.end(), size_t(L) - p.size(), 0);
    flat.insert(flat.end(), p.begin(), p.end());
  }
  return torch::tensor(flat, torch::kInt64).view({int64_t(prompts.size()), L});
}

// Appends token t to g; true when g is finished (EOS, a stop string, or the model's positions).
bool append_and_finish(Generation& g, int32_t t, const std::vector<int32_t>& prompt, const Tokenizer& tok,
                       const GenerateOptions& opts, int64_t max_pos) {
  g.tokens.push_back(t);
  if (opts.stop_at_eos && t == tok.eos_id()) {
    g.finish = "eos";
    return true;
  }
  if (!opts.stop.empty()) {
    const std::string text = decode_continuation(tok, prompt, g.tokens);
    const size_t at = find_stop(text, opts.stop);
    if (at != std::string::npos) {
      g.text = text.substr(0, at);
      g.finish = "stop";
      return true;
    }
  }
  if (g.prompt_tokens + int64_t(g.tokens.size()) >= max_pos) {
    g.finish = "context";
    return true;
  }
  return false;
}

// Rows that finish leave the batch and the cache (rows `keep` of `live` stay), so a long
// generation does not keep finished ones computing; filler columns every remaining row has
// (the longest prompts left) are dropped. `ids` is the no-cache reference path's input.
void drop_finished(const std::vector<int64_t>& keep, std::vector<int64_t>& live, KVCache& cache, torch::Tensor& ids,
                   bool use_cache) {
  cache.select_rows(keep);
  if (!use_cache) ids = ids.index_select(0, torch::tensor(keep, torch::kInt64).to(ids.device()));
  std::vector<int64_t> still;
  for (int64_t r : keep) still.push_back(live[size_t(r)]);
  live = still;
  const int64_t common = *std::min_element(cache.pad.begin(), cache.pad.end());
  if (common > 0) {
    cache.drop_columns(common);
    if (!use_cache) ids = ids.slice(1, common);
  }
}

// Generates for a group of prompts together, left-padded to the longest (KVCache::pad).
std::vector<Generation> generate_group(LlamaForCausalLM& model, const Tokenizer& tok,
                                       std::vector<std::vector<int32_t>> prompts,
                                       const std::vector<uint64_t>& seeds, const GenerateOptions& opts) {
  torch::NoGradGuard no_grad;
  const int64_t B = int64_t(prompts.size());
  const int64_t max_pos = model->config.max_position_embeddings;
  std::vector<Generation> out(B);
  std::vector<std::mt19937_64> rngs(seeds.begin(), seeds.begin() + B);  // one stream per prompt
  fit_prompts(prompts, max_pos, opts, out);
  KVCache cache;
  // (B, L): the prompts; the reference path (no cache) appends each new token.
  auto ids = left_padded(prompts, cache).to(model->device());

  // The reference path (no cache) re-runs every position each step, with a fresh cache that
  // only carries the padding.
  auto run = [&](const torch::Tensor& new_ids) {
    if (opts.use_cache) return model->hidden_states(new_ids, &cache);
    KVCache fresh;
    fresh.pad = cache.pad;
    return model->hidden_states(new_ids, &fresh);
  };
  // Logits of the last position only (B, V): the LM head over all positions would cost a
  // (B, L, V) matmul for nothing. A vocabulary padded beyond the tokenizer's ids (model/model_use.h)
  // is cut off: those rows name no token.
  auto last_logits = [&](const torch::Tensor& hidden) {  // hidden (B, t, C)
    return model->logits(hidden.select(1, hidden.size(1) - 1)).slice(-1, 0, tok.vocab_size());
  };
  torch::Tensor logits = last_logits(run(ids));

  std::vector<int64_t> live(B);  // live[r]: the prompt whose row r of the batch is
  for (int64_t b = 0; b < B; ++b) live[size_t(b)] = b;
  const bool greedy = opts.temperature <= 0;
  for (int64_t step = 0; step < opts.max_new_tokens && !live.empty(); ++step) {
    std::vector<int64_t> keep, next;  // rows still going, and their new tokens
    // One read from the device a step: every row's choice (greedy), or every row's logits.
    const auto host = greedy ? logits.argmax(-1).to(torch::kCPU) : logits.to(torch::kCPU, torch::kDouble).contiguous();
    for (size_t r = 0; r < live.size(); ++r) {
      const int64_t b = live[r];
      const int32_t t = greedy ? int32_t(host[int64_t(r)].item<int64_t>()) : sample_token(host[int64_t(r)], opts, rngs[b]);
      if (append_and_finish(out[b], t, prompts[b], tok, opts, max_pos)) continue;
      keep.push_back(int64_t(r));
      next.push_back(t);
    }
    if (keep.empty() || step + 1 == opts.max_new_tokens) break;
    if (keep.size() < live.size()) drop_finished(keep, live, cache, ids, opts.use_cache);
    auto next_ids = torch::tensor(next, torch::kInt64).view({int64_t(next.size()), 1}).to(ids.device());  // (live, 1)
    if (opts.use_cache) {
      logits = last_logits(run(next_ids));
    } else {
      ids = torch::cat({ids, next_ids}, 1);  // (live, L + step + 1): the reference path re-runs all
      logits = last_logits(run(ids));
    }
  }
  for (int64_t b = 0; b < B; ++b) {
    auto& g = out[b];
    if (g.finish == "stop") continue;
    if (g.finish.empty()) g.finish = "length";
    std::vector<int32_t> text_tokens = g.tokens;
    if (g.finish == "eos") text_tokens.pop_back();
    g.text = decode_continuation(tok, prompts[b], text_tokens);
  }
  return out;
}

std::vector<int32_t> nonempty_prompt(const Tokenizer& tok, const std::vector<int32_t>& prompt) {
  if (!prompt.empty()) return prompt;
  // Nothing to condition on: start from BOS, as a model trained with BOS would.
  if (tok.bos_id() < 0) fail("empty prompt, and the tokenizer " + tok.path() + " has no BOS token to start from");
  return {tok.bos_id()};
}

}  // namespace

int64_t prompt_budget(int64_t max_positions, int64_t max_new_tokens) {
  return std::max<int64_t>(1, std::min(max_positions - 1, std::max(max_positions - max_new_tokens, max_positions / 2)));
}

Generation generate(LlamaForCausalLM& model, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                    const GenerateOptions& opts) {
  return generate_group(model, tok, {nonempty_prompt(tok, prompt)}, {opts.seed}, opts)[0];
}

std::vector<Generation> generate_batch(LlamaForCausalLM& model, const Tokenizer& tok,
                                       const std::vector<std::vector<int32_t>>& prompts,
                                       const GenerateOptions& opts) {
  std::vector<Generation> out(prompts.size());
  std::vector<std::vector<int32_t>> fixed(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) fixed[i] = nonempty_prompt(tok, prompts[i]);
  // Groups of batch_size in order of length (input order within a length): neighbours in length
  // need little padding.
  std::vector<size_t> order(prompts.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fixed[a].size() < fixed[b].size(); });
  const size_t cap = size_t(std::max<int64_t>(1, opts.batch_size));
  for (size_t s = 0; s < order.size(); s += cap) {
    std::vector<std::vector<int32_t>> group;
    std::vector<uint64_t> seeds;
    const size_t end = std::min(order.size(), s + cap);
    for (size_t j = s; j < end; ++j) {
      group.push_back(fixed[order[j]]);
      seeds.push_back(opts.seed + order[j]);
    }
    auto res = generate_group(model, tok, group, seeds, opts);
    for (size_t j = s; j < end; ++j) out[order[j]] = std::move(res[j - s]);
  }
  return out;
}

}  // namespace rho
