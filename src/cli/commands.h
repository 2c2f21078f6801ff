// Each stage's subcommands register themselves on the root app.
#pragma once

#include <CLI/CLI.hpp>

#include "common/bounds.h"
#include "model/compute.h"

namespace rho::cli {
void register_tokenizer(CLI::App& app);  // rho tokenizer train|encode
void register_tokenize(CLI::App& app);   // rho tokenize
void register_train(CLI::App& app);      // rho train
void register_score(CLI::App& app);      // rho score
void register_bench(CLI::App& app);      // rho bench
void register_model(CLI::App& app);      // rho model presets|info
void register_generate(CLI::App& app);   // rho generate
void register_eval(CLI::App& app);       // rho eval loss|fewshot
void register_analyze(CLI::App& app);    // rho analyze dynamics|select|plot
void register_launch(CLI::App& app);     // rho launch -n N -- <command>
void register_hf(CLI::App& app);         // rho import / rho export (Hugging Face directories)

// A real value within `b` (CLI::Range cannot leave 0 out, and lets NaN through comparisons).
inline CLI::Validator in_bounds(Bounds b) {
  const std::string range = b.text();
  return CLI::Validator(
      [b, range](std::string& s) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(s, v) || !b.contains(v)) return "value " + s + " not in range " + range;
        return "";
      },
      range);
}
// A fraction in (0, 1] (ratios, nucleus mass).
inline CLI::Validator unit_fraction() { return in_bounds({0.0, 1.0, true}); }
inline CLI::Validator real_range(double lo, double hi) { return in_bounds({lo, hi}); }

// --device and --precision of every command that runs a model (model/compute.h).
struct ComputeFlags {
  std::string device = "auto", precision = "auto";
  Compute resolve() const { return resolve_compute(device, precision); }
};
inline std::shared_ptr<ComputeFlags> add_compute_flags(CLI::App* sub) {
  auto f = std::make_shared<ComputeFlags>();
  sub->add_option("--device", f->device, "auto (CUDA when present), cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--precision", f->precision, "auto (bf16 on CUDA, fp32 on the CPU), fp32 or bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}))
      ->capture_default_str();
  return f;
}
}  // namespace rho::cli
