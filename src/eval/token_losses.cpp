#include "eval/token_losses.h"

#include "common/error.h"
#include "compat/torch_compat.h"
#include "dist/distributed.h"

namespace rho {

torch::Tensor batch_losses(LlamaForCausalLM& model, const torch::Tensor& inputs, const torch::Tensor& targets,
                           const EvalOptions& o) {
  torch::NoGradGuard no_grad;
  compat::AutocastScope autocast(o.compute.device, o.compute.bf16());
  auto losses = model_token_losses(model, inputs.to(o.compute.device), targets.to(o.compute.device), o.head);  // (B, T)
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
