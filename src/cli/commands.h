// Each command group registers its subcommands on the root app, one file per group (cmd_<group>.cpp);
// shared flags come from cli/flags.h.
#pragma once

#include <CLI/CLI.hpp>

#include "common/bounds.h"

namespace rho::cli {
void register_tokenizer(CLI::App& app);  // rho tokenizer train|encode
void register_tokenize(CLI::App& app);   // rho tokenize
void register_train(CLI::App& app);      // rho train (cmd_train.cpp)
void register_score(CLI::App& app);      // rho score (cmd_score.cpp)
void register_bench(CLI::App& app);      // rho bench (cmd_bench.cpp)
void register_model(CLI::App& app);      // rho model presets|info|logits (cmd_model.cpp)
void register_generate(CLI::App& app);   // rho generate (cmd_generate.cpp)
void register_eval(CLI::App& app);       // rho eval loss|fewshot|choice (cmd_eval.cpp)
void register_analyze(CLI::App& app);    // rho analyze dynamics|select|plot (cmd_analyze.cpp)
void register_launch(CLI::App& app);     // rho launch -n N -- <command>
void register_hf(CLI::App& app);         // rho import / rho export (Hugging Face directories)
void register_plan(CLI::App& app);       // rho plan (cmd_plan.cpp)

// "2GB", "500MB", "80GiB", "4096": bytes. UserError naming `flag` on anything else.
int64_t parse_size(const std::string& flag, const std::string& text);

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

}  // namespace rho::cli
