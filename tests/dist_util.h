// Data-parallel tests with ranks as threads of this process, joined in one Gloo group through an
// in-process store.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "data/loader.h"
#include "dist/distributed.h"
#include "selection/objective.h"

// PyTorch 2.x wheels ship no gloo headers, so builds against them have no CPU process group.
#define RHO_NEED_GLOO()                                                                          \
  if (!rho::Distributed::has_gloo())                                                             \
  GTEST_SKIP() << "this rho was built without Gloo (no gloo headers, as with PyTorch 2.x wheels): " \
                  "CPU data parallelism is not in this build"

namespace rho_test {

// Runs fn(rank, dist) on `world` threads joined in one Gloo group; a rank's exception fails the test.
template <class F>
void on_ranks(F fn, int world) {
  auto store = rho::Distributed::make_test_store();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        auto dist = rho::Distributed::connect_in_process(store, r, world);
        fn(r, *dist);
      } catch (const std::exception& e) {
        errors[size_t(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[size_t(r)], "") << "rank " << r;
}

// Reference losses from the tokens' positions, ((start + t * 7919) % modulus) / divisor: few
// levels make scores tie often (the selection must break ties as one process does); many
// spread them apart (a rounding difference in the weights cannot flip which tokens are kept).
class PositionReference : public rho::Reference {
 public:
  PositionReference(uint64_t modulus, float divisor) : modulus_(modulus), divisor_(divisor) {}
  torch::Tensor losses(const rho::Batch& b) override {
    const int64_t T = b.targets.size(1);
    auto out = torch::empty({int64_t(b.windows.size()), T});
    auto a = out.accessor<float, 2>();
    for (size_t i = 0; i < b.windows.size(); ++i)
      for (int64_t t = 0; t < T; ++t)
        a[int64_t(i)][t] = float((b.windows[i].start + uint64_t(t) * 7919) % modulus_) / divisor_;
    return out;
  }

 private:
  uint64_t modulus_;
  float divisor_;
};

}  // namespace rho_test
