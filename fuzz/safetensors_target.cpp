// Fuzz target body for safetensors (targets.h); links libtorch for the tensors it builds.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "fuzz/targets.h"
#include "model/safetensors.h"

namespace rho::fuzz {

void safetensors(const uint8_t* data, size_t size) {
  try {
    auto f = parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    // Accepted: every tensor's bytes must be readable (ASan checks the reads).
    for (auto& [name, t] : f.tensors) {
      auto c = t.contiguous();
      const auto* p = static_cast<const unsigned char*>(c.data_ptr());
      unsigned sum = 0;
      for (int64_t i = 0; i < c.numel() * int64_t(c.element_size()); ++i) sum += p[i];
      (void)sum;
    }
  } catch (const UserError&) {
  }
}

}  // namespace rho::fuzz
