#include "measure/token_losses.h"

#include <algorithm>

#include "common/error.h"
#include "common/torch_compat.h"
#include "dist/distributed.h"

namespace rho {

torch::Tensor head_token_losses(LlamaForCausalLM& model, const torch::Tensor& hidden, const torch::Tensor& targets,
                                const HeadOptions& head) {
  if (head.fused) return fused_head_loss(hidden, model->head_weight(), targets, head.chunk_tokens, head.every_row_trained,
                                         head.kept_rows);
  return per_token_loss(model->logits(hidden).unsqueeze(0), targets.unsqueeze(0)).squeeze(0);
}

torch::Tensor model_token_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                                 const HeadOptions& head) {
  auto hidden = model->hidden_states(inputs);  // (B, T, C)
  const int64_t B = targets.size(0), T = targets.size(1);
  return head_token_losses(model, hidden.reshape({B * T, hidden.size(-1)}), targets.reshape({B * T}), head).view({B, T});
}

torch::Tensor device_batch_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                                  const MeasureOptions& o) {
  torch::NoGradGuard no_grad;
  compat::AutocastScope autocast(o.compute.device, o.compute.bf16());
  return model_token_losses(model, inputs.to(o.compute.device), targets.to(o.compute.device), o.head).to(torch::kFloat);
}

torch::Tensor batch_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                           const MeasureOptions& o) {
  return device_batch_losses(model, inputs, targets, o).to(torch::kCPU).contiguous();  // (B, T)
}

std::vector<float> sequence_losses(LlamaForCausalLM& model, const std::vector<ScoredSequence>& seqs,
                                   const MeasureOptions& o) {
  std::vector<float> out;
  const int64_t vocab = model->config.vocab_size;
  size_t i = 0;
  while (i < seqs.size()) {
    size_t j = i + 1;
    while (j < seqs.size() && int64_t(j - i) < o.batch && seqs[j].tokens.size() == seqs[i].tokens.size()) ++j;
    const int64_t B = int64_t(j - i), n = int64_t(seqs[i].tokens.size());
    std::vector<int64_t> flat;
    flat.reserve(size_t(B * n));
    for (size_t k = i; k < j; ++k)
      for (int32_t t : seqs[k].tokens) {
        if (t < 0 || t >= vocab)
          fail("token id " + std::to_string(t) + " is outside the model's vocabulary of " + std::to_string(vocab));
        flat.push_back(t);
      }
    auto ids = torch::tensor(flat, torch::kInt64).view({B, n});                        // (B, T+1)
    auto losses = batch_losses(model, ids.slice(1, 0, n - 1), ids.slice(1, 1, n), o);  // (B, T)
    const float* l = losses.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      // Target position p (1-based in tokens) is column p - 1.
      const int64_t first = seqs[i + size_t(b)].first_scored;
      out.insert(out.end(), l + b * (n - 1) + (first - 1), l + (b + 1) * (n - 1));
    }
    i = j;
  }
  return out;
}

namespace {

void check_ids(const std::vector<int32_t>& t, int64_t vocab) {
  for (int32_t id : t)
    if (id < 0 || id >= vocab)
      fail("token id " + std::to_string(id) + " is outside the model's vocabulary of " + std::to_string(vocab));
}

}  // namespace

namespace {

// Sequences that share their first L tokens: the prefix runs once for all of them.
struct PrefixGroup {
  std::vector<size_t> members;  // indices into the flat sequence list
  int64_t L = 1;
};

// The groups as index lists over `seqs` (filled here, in order), each with its shared prefix
// length L: at least one token, and at least one token of every member after it. A group without
// a common first token is split into one group per sequence.
std::vector<PrefixGroup> prefix_groups(const std::vector<std::vector<ScoredSequence>>& in_groups, int64_t vocab,
                                       std::vector<const ScoredSequence*>& seqs) {
  std::vector<PrefixGroup> groups;
  for (const auto& g : in_groups) {
    std::vector<size_t> idx;
    for (const auto& s : g) {
      if (s.tokens.size() < 2 || s.first_scored < 1 || s.scored() < 1)
        fail("sequence " + std::to_string(seqs.size()) + " has nothing to score");
      check_ids(s.tokens, vocab);
      idx.push_back(seqs.size());
      seqs.push_back(&s);
    }
    if (idx.empty()) continue;
    int64_t L = int64_t(seqs[idx[0]]->tokens.size()) - 1;
    for (size_t k : idx) {
      const auto& a = seqs[idx[0]]->tokens;
      const auto& b = seqs[k]->tokens;
      int64_t common = 0;
      while (common < L && common < int64_t(b.size()) - 1 && a[size_t(common)] == b[size_t(common)]) ++common;
      L = std::min<int64_t>(common, int64_t(b.size()) - 1);
    }
    if (L >= 1) {
      groups.push_back({idx, L});
    } else {
      for (size_t k : idx) groups.push_back({{k}, int64_t(seqs[k]->tokens.size()) - 1});
    }
  }
  return groups;
}

// One forward pass over G groups of equal prefix length L: the prefixes (G, L) once, their keys
// and values copied to every member (R rows), then the members' remainders, right-padded to the
// longest. Appends each member's scored losses to out[member].
void run_prefix_batch(LlamaForCausalLM& model, const std::vector<const ScoredSequence*>& seqs,
                      const std::vector<const PrefixGroup*>& batch, const MeasureOptions& o,
                      std::vector<std::vector<float>>& out) {
  const int64_t G = int64_t(batch.size()), L = batch[0]->L, C = model->config.hidden_size;
  auto prefix = torch::empty({G, L}, torch::kInt64);
  std::vector<int64_t> row_group;  // rows: every member of the G groups
  std::vector<size_t> row_seq;
  int64_t R_len = 1;               // longest remainder (tokens after the prefix)
  for (int64_t g = 0; g < G; ++g) {
    const auto& first = seqs[batch[size_t(g)]->members[0]]->tokens;
    for (int64_t t = 0; t < L; ++t) prefix[g][t] = int64_t(first[size_t(t)]);
    for (size_t m : batch[size_t(g)]->members) {
      row_group.push_back(g);
      row_seq.push_back(m);
      R_len = std::max<int64_t>(R_len, int64_t(seqs[m]->tokens.size()) - L);
    }
  }
  const int64_t R = int64_t(row_seq.size());
  KVCache cache;
  auto hp = model->hidden_states(prefix.to(o.compute.device), &cache);  // (G, L, C)
  // Losses inside the prefix (targets 1..L-1), shared by every member.
  torch::Tensor prefix_losses;
  if (L > 1)
    prefix_losses = head_token_losses(model, hp.slice(1, 0, L - 1).reshape({-1, C}), prefix.slice(1, 1, L).reshape({-1}).to(o.compute.device), o.head)
                        .view({G, L - 1}).to(torch::kCPU, torch::kFloat).contiguous();
  // Remainders: token 0 is predicted from the prefix's last position, token k from token k-1.
  auto rows = torch::tensor(row_group, torch::kInt64).to(o.compute.device);
  auto targets = torch::zeros({R, R_len}, torch::kInt64);  // padding: token 0, scored by no one
  for (int64_t r = 0; r < R; ++r) {
    const auto& t = seqs[row_seq[size_t(r)]]->tokens;
    for (size_t k = size_t(L); k < t.size(); ++k) targets[r][int64_t(k) - L] = int64_t(t[k]);
  }
  auto hidden = hp.select(1, L - 1).index_select(0, rows).unsqueeze(1);  // (R, 1, C)
  if (R_len > 1) {
    cache.select_rows(row_group);  // each member continues its group's prefix
    auto hr = model->hidden_states(targets.slice(1, 0, R_len - 1).to(o.compute.device), &cache);  // (R, R_len-1, C)
    hidden = torch::cat({hidden, hr}, 1);                                                 // (R, R_len, C)
  }
  auto rem_losses = head_token_losses(model, hidden.reshape({-1, C}), targets.reshape({-1}).to(o.compute.device), o.head)
                        .view({R, R_len}).to(torch::kCPU, torch::kFloat).contiguous();
  const float* pl = L > 1 ? prefix_losses.data_ptr<float>() : nullptr;
  const float* rl = rem_losses.data_ptr<float>();
  for (int64_t r = 0; r < R; ++r) {
    const ScoredSequence& s = *seqs[row_seq[size_t(r)]];
    auto& dst = out[row_seq[size_t(r)]];
    // Target position t (1-based in tokens): in the prefix for t < L, else in the remainder.
    for (int64_t t = s.first_scored; t < int64_t(s.tokens.size()); ++t)
      dst.push_back(t < L ? pl[row_group[size_t(r)] * (L - 1) + (t - 1)] : rl[r * R_len + (t - L)]);
  }
}

}  // namespace

std::vector<std::vector<float>> shared_prefix_losses(LlamaForCausalLM& model,
                                                     const std::vector<std::vector<ScoredSequence>>& in_groups,
                                                     const MeasureOptions& o, int64_t max_tokens) {
  torch::NoGradGuard no_grad;
  compat::AutocastScope autocast(o.compute.device, o.compute.bf16());
  std::vector<const ScoredSequence*> seqs;
  const std::vector<PrefixGroup> groups = prefix_groups(in_groups, model->config.vocab_size, seqs);
  // Equal prefix lengths run together, longest first.
  std::vector<size_t> order(groups.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return groups[a].L > groups[b].L; });
  std::vector<std::vector<float>> out(seqs.size());
  size_t i = 0;
  while (i < order.size()) {
    // Groups of this prefix length, within the group and token caps.
    const int64_t L = groups[order[i]].L;
    std::vector<const PrefixGroup*> batch;
    int64_t tokens = 0;
    for (size_t j = i; j < order.size() && groups[order[j]].L == L && int64_t(batch.size()) < o.batch; ++j) {
      int64_t rest = 0;
      for (size_t m : groups[order[j]].members) rest += int64_t(seqs[m]->tokens.size()) - L;
      if (!batch.empty() && tokens + L + rest > max_tokens) break;
      tokens += L + rest;
      batch.push_back(&groups[order[j]]);
    }
    run_prefix_batch(model, seqs, batch, o, out);
    i += batch.size();
  }
  return out;
}

void window_losses(LlamaForCausalLM& model, const PackedDataset& data, int64_t first, int64_t count,
                   const MeasureOptions& o, const std::function<void(int64_t, const float*)>& sink, int rank, int world) {
  const int64_t T = data.seq_len();
  auto inputs = torch::empty({o.batch, T}, torch::kInt64), targets = torch::empty({o.batch, T}, torch::kInt64);
  for (int64_t k = 0, w0 = first; w0 < first + count; ++k, w0 += o.batch) {
    if (k % world != rank) continue;
    const int64_t B = std::min(o.batch, first + count - w0);
    for (int64_t b = 0; b < B; ++b)
      data.read_window(data.window_in_order(w0 + b), inputs[b].data_ptr<int64_t>(), targets[b].data_ptr<int64_t>());
    auto losses = batch_losses(model, inputs.slice(0, 0, B), targets.slice(0, 0, B), o);  // (B, T)
    for (int64_t b = 0; b < B; ++b) sink(w0 + b, losses.data_ptr<float>() + b * T);
  }
}

double dataset_loss(LlamaForCausalLM& model, const PackedDataset& data, int64_t count, const MeasureOptions& o,
                    Distributed* dist) {
  const int64_t T = data.seq_len();
  double sum = 0;
  window_losses(
      model, data, 0, count, o,
      [&](int64_t, const float* l) {
        for (int64_t t = 0; t < T; ++t) sum += l[t];
      },
      dist ? dist->rank() : 0, dist ? dist->world() : 1);
  if (dist && dist->world() > 1) sum = dist->sum_scalar(sum);
  return sum / double(count * T);
}

}  // namespace rho
