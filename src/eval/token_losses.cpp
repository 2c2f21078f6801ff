#include "eval/token_losses.h"

#include <algorithm>

#include "common/error.h"
#include "dist/distributed.h"

namespace rho {

torch::Tensor batch_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                           const EvalOptions& o) {
  torch::NoGradGuard no_grad;
  auto losses = model_token_losses(model, inputs.to(o.device), targets.to(o.device), o.head);  // (B, T)
  return losses.to(torch::kCPU, torch::kFloat).contiguous();
}

std::vector<float> sequence_losses(LlamaForCausalLM& model, const std::vector<EvalSequence>& seqs,
                                   const EvalOptions& o) {
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

std::vector<std::vector<float>> padded_sequence_losses(LlamaForCausalLM& model, const std::vector<EvalSequence>& seqs,
                                                       const EvalOptions& o, int64_t max_tokens) {
  const int64_t vocab = model->config.vocab_size;
  std::vector<size_t> order(seqs.size());
  for (size_t k = 0; k < order.size(); ++k) {
    order[k] = k;
    if (seqs[k].tokens.size() < 2 || seqs[k].first_scored < 1 || seqs[k].scored() < 1)
      fail("sequence " + std::to_string(k) + " has nothing to score");
  }
  // Longest first: each batch's width is its first sequence's length.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return seqs[a].tokens.size() > seqs[b].tokens.size(); });
  std::vector<std::vector<float>> out(seqs.size());
  size_t i = 0;
  while (i < order.size()) {
    const int64_t n = int64_t(seqs[order[i]].tokens.size());  // T+1 of this batch
    const int64_t cap = std::max<int64_t>(1, std::min<int64_t>(o.batch, max_tokens / n));
    const size_t j = std::min(order.size(), i + size_t(cap));
    const int64_t B = int64_t(j - i);
    auto ids = torch::zeros({B, n}, torch::kInt64);  // padding: token 0, scored by no one
    auto* p = ids.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      const auto& t = seqs[order[i + size_t(b)]].tokens;
      for (size_t k = 0; k < t.size(); ++k) {
        if (t[k] < 0 || t[k] >= vocab)
          fail("token id " + std::to_string(t[k]) + " is outside the model's vocabulary of " + std::to_string(vocab));
        p[b * n + int64_t(k)] = t[k];
      }
    }
    auto losses = batch_losses(model, ids.slice(1, 0, n - 1), ids.slice(1, 1, n), o);  // (B, T)
    const float* l = losses.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      const EvalSequence& s = seqs[order[i + size_t(b)]];
      const int64_t len = int64_t(s.tokens.size());
      out[order[i + size_t(b)]].assign(l + b * (n - 1) + (s.first_scored - 1), l + b * (n - 1) + (len - 1));
    }
    i = j;
  }
  return out;
}

void window_losses(LlamaForCausalLM& model, const PackedDataset& data, int64_t first, int64_t count,
                   const EvalOptions& o, const std::function<void(int64_t, const float*)>& sink, int rank, int world) {
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

double dataset_loss(LlamaForCausalLM& model, const PackedDataset& data, int64_t count, const EvalOptions& o,
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
