#include "train/guard.h"

#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "dist/distributed.h"

namespace rho {
namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old_int, g_old_term;

extern "C" void on_stop_signal(int signo) { g_signal.store(signo); }

}  // namespace

StopSignals::StopSignals() {
  g_signal.store(0);
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // SA_RESETHAND: the second Ctrl-C kills. SA_RESTART: reads and writes in flight are not cut
  // short by EINTR.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int StopSignals::pending() { return g_signal.load(); }

int agreed_stop_signal(Distributed* dist) {
  const int mine = StopSignals::pending();
  if (!dist || dist->world() == 1) return mine;
  const bool any = dist->sum_scalar(mine ? 1.0 : 0.0) > 0;
  return mine ? mine : (any ? SIGTERM : 0);
}

const char* StopSignals::name(int signo) {
  return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "signal";
}

void BadStepGuard::record(int64_t step, double loss, double grad_norm) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    run_ = 0;
    return;
  }
  ++total_;
  ++run_;
  std::fprintf(stderr, "step %lld: %s is not finite (loss %g, grad norm %g); step skipped (%lld in a row)\n",
               (long long)step, std::isfinite(loss) ? "gradient" : "loss", loss, grad_norm, (long long)run_);
  if (run_ >= max_)
    fail("step " + std::to_string(step) + ": loss or gradient not finite for " + std::to_string(run_) +
         " steps in a row (--max-bad-steps " + std::to_string(max_) +
         "); stopping. Lower --lr, check the data, or resume from the last checkpoint");
}

}  // namespace rho
