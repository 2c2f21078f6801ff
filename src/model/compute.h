// Where a model runs and in what precision: `--device auto|cpu|cuda[:N]` and
// `--precision auto|fp32|bf16` on every command that runs a model.
//   bf16 while training: fp32 master weights and AdamW state; the matmuls run in bf16 under
//   autocast (compat::AutocastScope); RMSNorm, softmax, log-sum-exp, per-token losses and the
//   excess-loss selection stay fp32.
//   bf16 for a model that is only measured (a reference scoring a corpus, the online reference,
//   evaluation): bf16 weights, forward only, the same fp32 islands.
#pragma once
#include <string>

#include <torch/torch.h>

namespace rho {

enum class Precision { FP32, BF16 };

struct Compute {
  torch::Device device = torch::kCPU;
  Precision precision = Precision::FP32;
  bool bf16() const { return precision == Precision::BF16; }
  std::string describe() const;  // "cuda:0 bf16"
};

// "auto": CUDA device 0 when CUDA is available, else the CPU; "cpu"; "cuda" / "cuda:N".
// "auto" precision: bf16 on CUDA, fp32 on the CPU. UserError naming the flag for anything else,
// and for a CUDA device this process cannot use (no CUDA build, no GPU, N out of range).
Compute resolve_compute(const std::string& device, const std::string& precision);

// A model that is measured, not trained, made ready for `c`: moved to the device, and in bf16
// its weights cast to bf16 (a forward-only model needs no fp32 master copy).
void prepare_for_inference(torch::nn::Module& model, const Compute& c);

}  // namespace rho
