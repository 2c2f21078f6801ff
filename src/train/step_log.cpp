#include "train/step_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"

namespace rho {

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  std::string kept;
  if (resume_step >= 0 && file_exists(path)) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= resume_step)
        kept += line + "\n";
    }
  }
  write_file_atomic(path, kept);
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) fail_file(path, "cannot open for appending");
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& j) {
  const std::string line = j.dump() + "\n";
  fwrite_checked(f_, line.data(), line.size(), path_);
  if (std::fflush(f_) != 0) fail_file(path_, std::string("write failed: ") + std::strerror(errno));
}

StepLog::StepLog(const TrainOptions& opts, const LlamaConfig& c, int64_t windows, int64_t resume_step, bool rank0)
    : log_every_(opts.log_every),
      max_steps_(opts.optim.max_steps),
      tokens_per_step_(opts.micro_batch * opts.seq_len * opts.grad_accum * opts.world) {
  if (!rank0) return;
  metrics_ = std::make_unique<MetricsLog>(opts.out_dir + "/metrics.jsonl", resume_step);
  std::fprintf(stderr,
               "model: %s params (%lld layers, hidden %lld, vocab %lld) | data: %lld windows of %lld tokens | "
               "%s tokens/step | %lld steps\n",
               format_count(double(c.num_params())).c_str(), (long long)c.num_hidden_layers, (long long)c.hidden_size,
               (long long)c.vocab_size, (long long)windows, (long long)opts.seq_len,
               format_count(double(tokens_per_step_)).c_str(), (long long)max_steps_);
}

void StepLog::record(const TrainerState& state, const StepStats& stats, double lr, std::optional<double> val,
                     bool slm_active, bool last) {
  if (!metrics_) return;
  window_tokens_ += stats.tokens_seen;
  nlohmann::json m = {{"step", state.step},           {"lr", lr},
                      {"loss", stats.loss},           {"grad_norm", stats.grad_norm},
                      {"tokens_seen", state.tokens_seen}, {"tokens_trained", state.tokens_trained}};
  if (val) m["val_loss"] = *val;
  if (stats.skipped) m["skipped"] = true;
  if (state.bad_steps) m["bad_steps"] = state.bad_steps;
  if (slm_active) {
    const auto& sel = stats.selection;
    m["selected"] = sel.selected;
    m["kept_share"] = double(sel.selected) / double(std::max<int64_t>(1, sel.candidates));
    m["selected_checksum"] = sel.selected_checksum;
    m["loss_selected"] = sel.loss_selected_sum / double(std::max<int64_t>(1, sel.selected));
    m["loss_unselected"] = sel.loss_unselected_sum / double(std::max<int64_t>(1, sel.candidates - sel.selected));
    m["threshold"] = sel.threshold_sum / double(std::max<int64_t>(1, sel.thresholds));
  }
  if (state.step % log_every_ == 0 || last || val) {
    const double dt = std::chrono::duration<double>(Clock::now() - window_start_).count();
    const double tps = double(window_tokens_) / std::max(dt, 1e-9);
    m["tokens_per_s"] = tps;
    const double eta = double(max_steps_ - state.step) * double(tokens_per_step_) / std::max(tps, 1e-9);
    char slm_text[96] = "", val_text[32] = "";
    if (slm_active)
      std::snprintf(slm_text, sizeof slm_text, " | kept %lld/%lld (sel loss %.3f)", (long long)stats.selection.selected,
                    (long long)stats.selection.candidates, m["loss_selected"].get<double>());
    if (val) std::snprintf(val_text, sizeof val_text, " | val %.4f", *val);
    std::fprintf(stderr, "step %5lld/%lld | loss %.4f | lr %.2e | grad %.2f%s | %s tok/s%s | ETA %s\n",
                 (long long)state.step, (long long)max_steps_, stats.loss, lr, stats.grad_norm, slm_text,
                 format_count(tps).c_str(), val_text, format_duration(eta).c_str());
    window_start_ = Clock::now();
    window_tokens_ = 0;
  }
  metrics_->write(m);
}

}  // namespace rho
