// What a run reports: one line of metrics.jsonl per step (loss, lr, gradient norm, token counts,
// validation loss where measured, SLM's selection figures) and a progress line on stderr every
// `--log-every` steps, at each validation and at the last step (tokens/s, ETA). Rank 0 writes;
// the other ranks' StepLog does nothing.
#pragma once
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/llama.h"
#include "train/options.h"
#include "train/step.h"
#include "train/trainer_state.h"

namespace rho {

// metrics.jsonl, appended line by line. On resume, lines past the resumed step are dropped so the
// file reads as one uninterrupted run.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, int64_t resume_step);  // resume_step < 0: a new run
  ~MetricsLog();
  void write(const nlohmann::json& line);

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

class StepLog {
 public:
  // `resume_step` < 0 for a new run. Prints the run's header line (model, data, batch, steps).
  StepLog(const TrainOptions& opts, const LlamaConfig& model, int64_t windows, int64_t resume_step, bool rank0);
  void record(const TrainerState& state, const StepStats& stats, double lr, std::optional<double> val,
              bool slm_active, bool last);

 private:
  using Clock = std::chrono::steady_clock;
  int64_t log_every_, max_steps_, tokens_per_step_;
  std::unique_ptr<MetricsLog> metrics_;  // rank 0 only
  Clock::time_point window_start_ = Clock::now();
  int64_t window_tokens_ = 0;
};

}  // namespace rho
