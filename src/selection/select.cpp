#include "selection/select.h"

#include <cmath>

#include "common/error.h"

namespace rho {

SelectionScope parse_scope(const std::string& s) {
  if (s == "sequence") return SelectionScope::Sequence;
  if (s == "micro-batch") return SelectionScope::MicroBatch;
  if (s == "batch") return SelectionScope::Batch;
  if (s == "stream") return SelectionScope::Stream;
  fail("unknown selection scope '" + s + "' (known: sequence, micro-batch, batch, stream)");
}

ScoreFunction parse_score_function(const std::string& s) {
  if (s == "excess") return ScoreFunction::ExcessLoss;
  if (s == "ref-loss") return ScoreFunction::ReferenceLoss;
  if (s == "current-loss") return ScoreFunction::CurrentLoss;
  if (s == "random") return ScoreFunction::Random;
  fail("unknown score function '" + s + "' (known: excess, ref-loss, current-loss, random)");
}

std::string to_string(SelectionScope s) {
  switch (s) {
    case SelectionScope::Sequence: return "sequence";
    case SelectionScope::MicroBatch: return "micro-batch";
    case SelectionScope::Batch: return "batch";
    case SelectionScope::Stream: return "stream";
  }
  return "?";
}

std::string to_string(ScoreFunction f) {
  switch (f) {
    case ScoreFunction::ExcessLoss: return "excess";
    case ScoreFunction::ReferenceLoss: return "ref-loss";
    case ScoreFunction::CurrentLoss: return "current-loss";
    case ScoreFunction::Random: return "random";
  }
  return "?";
}

int64_t selected_count(int64_t n, double ratio) {
  const auto k = int64_t(std::ceil(ratio * double(n) - 1e-9));
  return std::max<int64_t>(1, std::min(n, k));
}

torch::Tensor softmax_weights(const torch::Tensor& scores, double temperature) {
  TORCH_CHECK(temperature > 0, "softmax_weights: temperature must be > 0");
  // In float64: at small temperatures exp() of float32 scores / T under- and overflows sooner.
  return torch::softmax(scores.to(torch::kDouble) / temperature, -1).to(scores.scalar_type());
}

Selection select_top_k(const torch::Tensor& scores, int64_t k) {
  const int64_t n = scores.size(-1);
  TORCH_CHECK(k >= 1 && k <= n, "select_top_k: k out of range");
  // The k-th largest is the (n - k + 1)-th smallest.
  auto kth = std::get<0>(scores.kthvalue(n - k + 1, -1, /*keepdim=*/true));  // (..., 1)
  auto greater = scores > kth;
  auto n_greater = greater.sum(-1, /*keepdim=*/true);  // (..., 1)
  auto equal = scores == kth;
  auto equal_rank = equal.to(torch::kLong).cumsum(-1);  // 1-based rank among ties, in position order
  auto mask = greater | (equal & (equal_rank <= (k - n_greater)));
  return {mask, kth};
}

torch::Tensor token_scores(ScoreFunction f, const torch::Tensor& model_losses, const torch::Tensor& ref_losses,
                           uint64_t random_seed) {
  switch (f) {
    case ScoreFunction::ExcessLoss: return model_losses - ref_losses;
    case ScoreFunction::ReferenceLoss: return -ref_losses;
    case ScoreFunction::CurrentLoss: return model_losses.clone();
    case ScoreFunction::Random: {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(random_seed);
      return torch::rand(model_losses.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)).to(model_losses.device());
    }
  }
  fail("unknown score function");
}

}  // namespace rho
