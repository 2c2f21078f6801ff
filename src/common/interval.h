// Confidence intervals for the accuracies rho reports (few-shot math, multiple choice).
#pragma once
#include <cstdint>

namespace rho {

struct Interval {
  double lo = 0, hi = 0;
};

// 95% Wilson score interval of a binomial proportion k/n ({0, 1} for n <= 0).
Interval wilson_interval(int64_t k, int64_t n, double z = 1.959963984540054);

}  // namespace rho
