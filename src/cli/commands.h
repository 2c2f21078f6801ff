// Each stage's subcommands register themselves on the root app.
#pragma once
#include <sstream>

#include <CLI/CLI.hpp>

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

// A fraction in (0, 1] (ratios, nucleus mass): CLI::Range cannot say that 0 is excluded, and
// NaN slips through comparisons.
inline CLI::Validator unit_fraction() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(s, v) || !(v > 0 && v <= 1)) return "value " + s + " not in range (0, 1]";
        return "";
      },
      "(0, 1]");
}

// A real number in [lo, hi]; unlike CLI::Range it also refuses nan.
inline CLI::Validator real_range(double lo, double hi) {
  std::ostringstream range;
  range << "[" << lo << ", " << hi << "]";
  const std::string text = range.str();
  return CLI::Validator(
      [lo, hi, text](std::string& s) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(s, v) || !(v >= lo && v <= hi)) return "value " + s + " not in range " + text;
        return "";
      },
      text);
}
}  // namespace rho::cli
