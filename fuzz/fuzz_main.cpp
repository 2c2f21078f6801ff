// libFuzzer entry: RHO_FUZZ_TARGET names one of targets.h's functions (set per binary by CMake).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rho::fuzz::RHO_FUZZ_TARGET(data, size);
  return 0;
}
