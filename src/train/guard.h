// What keeps a long run alive or stops it cleanly: SIGINT/SIGTERM become a checkpoint and an
// orderly exit, and steps whose loss or gradient is not finite are skipped instead of poisoning
// the weights.
#pragma once
#include <cstdint>
#include <string>

namespace rho {

class Distributed;

// While alive, SIGINT and SIGTERM only record that a stop was asked for; the training loop
// checkpoints and returns. A second signal of the same kind gets the default action (kill), so
// an impatient user can still stop a run at once. Restores the previous handlers on destruction.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // The signal received (SIGINT or SIGTERM), or 0.
  static int pending();
  static const char* name(int signo);
};

// The stop signal every rank acts on after this step: any rank's SIGINT/SIGTERM stops them all
// (ranks that saw none report SIGTERM), so they all stop after the same step. 0: go on.
int agreed_stop_signal(Distributed* dist);

// Counts skipped (non-finite) steps (train_step skips them; this decides when to give up):
// record() throws UserError once `max_in_a_row` bad steps came in a row.
class BadStepGuard {
 public:
  explicit BadStepGuard(int64_t max_in_a_row, int64_t total_before = 0)
      : max_(max_in_a_row), total_(total_before) {}
  void record(int64_t step, double loss, double grad_norm);
  int64_t total() const { return total_; }

 private:
  int64_t max_, total_, run_ = 0;
};

}  // namespace rho
