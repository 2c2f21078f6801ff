// Learning-rate schedule: linear warmup from 0 to lr over warmup_steps, then cosine decay to
// min_lr at max_steps (and min_lr after it).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace rho {

inline double lr_at(int64_t step, int64_t warmup_steps, int64_t max_steps, double lr, double min_lr) {
  if (step < warmup_steps) return lr * double(step + 1) / double(warmup_steps);
  if (step >= max_steps) return min_lr;
  const double progress = double(step - warmup_steps) / double(std::max<int64_t>(1, max_steps - warmup_steps));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace rho
