// `rho bench --profile DIR`: a few steps of each variant under libtorch's (kineto) profiler, and
// what they spent their time on.
//   - On CUDA: the 25 most expensive device kernels (count, total, share of the profiled wall
//     time), how long the GPU sat idle between them (host gaps: launches, synchronisations,
//     Python-free but not free), and which attention kernels ran (flash, cuDNN, memory-efficient).
//   - On the CPU: the 25 operators with the most self time (their time less their children's).
// Each variant's events are written as a Chrome trace (DIR/<variant>.trace.json: chrome://tracing
// or ui.perfetto.dev), written by rho so that it works without Kineto's own writer (Debian's 1.13
// has none); where libtorch has it, Kineto's full trace too (DIR/<variant>.kineto.json).
// scripts/gpu/profile_peer.py makes the same table for the PyTorch peer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rho {

struct ProfiledEvent {
  std::string name;
  bool on_device = false;  // a CUDA kernel or copy; else a host (CPU) operator
  int64_t start_ns = 0, duration_ns = 0;
  uint64_t thread = 0;
};

// Collects events from construction until stop(). `cuda`: device kernels too.
class StepProfiler {
 public:
  explicit StepProfiler(bool cuda);
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;
  // Ends the profile; with `kineto_trace` non-empty, also writes Kineto's own trace there when
  // this libtorch can (false when it cannot).
  std::vector<ProfiledEvent> stop(const std::string& kineto_trace, bool* kineto_written = nullptr);

 private:
  bool running_ = false;
};

// The table described above, for `events` of `steps` steps that took `wall_ms` in all.
std::string profile_table(const std::vector<ProfiledEvent>& events, double wall_ms, int64_t steps, size_t top = 25);

// `events` as a Chrome trace (JSON), written atomically to `path`.
void write_chrome_trace(const std::string& path, const std::vector<ProfiledEvent>& events);

}  // namespace rho
