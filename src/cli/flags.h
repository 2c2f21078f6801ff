// Described settings as CLI11 flags (common/described.h): `rho train`'s whole table, and the run
// settings every command that loads a model shares (model/run_options.h). One visitor, so every
// command's --device, --precision, --threads, head and tokenizer-record flags read alike.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/runtime.h"
#include "dist/distributed.h"
#include "model/run_options.h"

namespace rho::cli {

// Turns each described setting into a CLI11 flag with its range. Settings without a flag (set
// by a launcher) are skipped.
struct AddFlags {
  CLI::App* sub;
  template <class I>
  void integer(const char* flag, const char*, I& x, I lo, I hi, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->check(CLI::Range(lo, hi))->capture_default_str();
  }
  void real(const char* flag, const char*, double& x, Bounds b, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->check(in_bounds(b))->capture_default_str();
  }
  void text(const char* flag, const char*, std::string& x, bool required, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->required(required);
  }
  void texts(const char* flag, const char*, std::vector<std::string>& x, bool required, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->required(required);
  }
  template <class E>
  void choice(const char* flag, const char*, E& x, const std::vector<std::pair<std::string, E>>& names, OnResume,
              const char* help) {
    if (!flag) return;
    std::vector<std::string> keys;
    std::string shown;
    for (const auto& n : names) {
      keys.push_back(n.first);
      if (n.second == x) shown = n.first;
    }
    sub->add_option_function<std::string>(
           flag,
           [&x, names](const std::string& s) {
             for (const auto& n : names)
               if (n.first == s) x = n.second;
           },
           help)
        ->check(CLI::IsMember(keys))
        ->default_str(shown);
  }
  void flag(const char* flag, const char*, bool& x, bool when_given, OnResume, const char* help) {
    if (flag) sub->add_flag_function(flag, [&x, when_given](int64_t) { x = when_given; }, help);
  }
};

// The shared run flags of a command that loads (or builds) models; `used` leaves out those the
// command would ignore. The options live as long as the command (CLI11 writes into them).
inline std::shared_ptr<RunOptions> add_run_flags(CLI::App* sub, RunSettingsUsed used = {}) {
  auto run = std::make_shared<RunOptions>();
  AddFlags flags{sub};
  run->describe(flags, used);
  return run;
}

// What every model command does first: the BLAS warning, the thread counts. A command with its
// own --blas-threads (train, bench) passes it; elsewhere --threads N holds OpenBLAS to N threads
// too: rho launch gives each process OPENBLAS_NUM_THREADS, and a matrix product split among another
// number of threads rounds differently, so `score --threads 1` in one process writes the bytes its
// ranks write under `rho launch` (tests/cli/corpora.sh). 0: the library's default.
inline void start_model_command(const RunOptions& run, int blas_threads) {
  warn_if_reference_blas();
  configure_threads(run.threads);
  configure_blas_threads(blas_threads);
}
inline void start_model_command(const RunOptions& run) { start_model_command(run, run.threads); }

// Several processes on one node (rho launch, torchrun): rank r uses its LOCAL_RANK-th GPU when the
// device is CUDA and no index was given.
inline void place_rank(RunOptions& run, const DistEnv& env) {
  if (env.world > 1 && run.compute().device.is_cuda() && (run.device == "auto" || run.device == "cuda"))
    run.device = "cuda:" + std::to_string(env.local_rank);
}

}  // namespace rho::cli
