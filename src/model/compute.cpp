#include "model/compute.h"

#include "common/error.h"

namespace rho {

std::string Compute::describe() const { return device.str() + (bf16() ? " bf16" : " fp32"); }

Compute resolve_compute(const std::string& device, const std::string& precision) {
  Compute c;
  const bool cuda = torch::cuda::is_available();
  if (device == "auto") {
    c.device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  } else if (device == "cpu") {
    c.device = torch::kCPU;
  } else if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 5) {
      const std::string n = device.substr(5);
      if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos)
        fail("--device: '" + device + "' is not cuda:N");
      index = std::stoi(n);
    }
    if (!cuda) fail("--device " + device + ": no CUDA device here (a CPU-only libtorch, or no GPU)");
    if (index >= int(torch::cuda::device_count()))
      fail("--device " + device + ": only " + std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    c.device = torch::Device(torch::kCUDA, int8_t(index));
  } else {
    fail("--device must be auto, cpu, cuda or cuda:N, got '" + device + "'");
  }
  if (precision == "auto") c.precision = c.device.is_cuda() ? Precision::BF16 : Precision::FP32;
  else if (precision == "fp32") c.precision = Precision::FP32;
  else if (precision == "bf16") c.precision = Precision::BF16;
  else fail("--precision must be auto, fp32 or bf16, got '" + precision + "'");
  return c;
}

void prepare_for_inference(torch::nn::Module& model, const Compute& c) {
  model.to(c.device);
  if (c.bf16()) model.to(torch::kBFloat16);
}

}  // namespace rho
