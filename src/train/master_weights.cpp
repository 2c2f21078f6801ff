#include "train/master_weights.h"

#include "common/error.h"

namespace rho {

void require_bf16_for_master_weights(bool bf16) {
  if (!bf16)
    fail("--master-weights fp32 keeps bf16 parameters for forward and backward; it needs --precision bf16 (this run is fp32)");
}

std::vector<torch::Tensor> trained_tensors(LlamaForCausalLM& model, const MasterWeights* master) {
  return master ? master->masters() : model->parameters();
}

MasterWeights::MasterWeights(LlamaForCausalLM& model) : params_(model->parameters()) {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) {
    auto& p = params_[k];
    if (p.scalar_type() != torch::kFloat) fail("internal: --master-weights fp32 takes fp32 parameters");
    // A leaf of its own (not the parameter's storage), so AdamW's in-place updates touch nothing
    // autograd saw.
    masters_.push_back(p.detach().clone().requires_grad_(true));
    p.set_data(p.detach().to(torch::kBFloat16));
    bf16_.push_back(p.detach());
    hooks_.push_back(p.register_hook([this, k](const torch::Tensor& g) {
      on_grad(k, g);
      return torch::Tensor();  // autograd still adds it into .grad; the next hook drops that
    }));
  }
}

MasterWeights::~MasterWeights() {
  for (size_t k = 0; k < params_.size(); ++k) params_[k].remove_hook(hooks_[k]);
}

// Runs inside backward, before autograd adds `incoming` into the bf16 .grad.
void MasterWeights::on_grad(size_t k, const torch::Tensor& incoming) {
  torch::NoGradGuard no_grad;
  auto& g = masters_[k].mutable_grad();
  if (g.defined()) g.add_(incoming);
  else g = incoming.to(torch::kFloat, /*non_blocking=*/false, /*copy=*/true);
  // Those reached before this one have had their bf16 gradient added to .grad by now.
  for (size_t j : hooked_) params_[j].mutable_grad().reset();
  hooked_.assign(1, k);
}

void MasterWeights::after_backward() {
  for (size_t j : hooked_) params_[j].mutable_grad().reset();
  hooked_.clear();
}

void MasterWeights::write_back() {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < params_.size(); ++k) bf16_[k].copy_(masters_[k]);
}

int64_t MasterWeights::master_bytes() const {
  int64_t n = 0;
  for (const auto& m : masters_) n += m.numel() * int64_t(m.element_size());
  return n;
}

MasterWeights::Exposed::Exposed(MasterWeights* m) : m_(m) {
  if (!m_) return;
  for (size_t k = 0; k < m_->params_.size(); ++k) m_->params_[k].set_data(m_->masters_[k].detach());
}

MasterWeights::Exposed::~Exposed() {
  if (!m_) return;
  for (size_t k = 0; k < m_->params_.size(); ++k) m_->params_[k].set_data(m_->bf16_[k]);
  m_->write_back();  // a resume may have loaded new masters
}

}  // namespace rho
