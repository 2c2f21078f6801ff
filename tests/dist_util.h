// Data-parallel tests with ranks as threads of this process, joined in one Gloo group through an
// in-process store.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "dist/distributed.h"

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

}  // namespace rho_test
