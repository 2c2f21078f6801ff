// Each stage's subcommands register themselves on the root app.
#pragma once
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
}  // namespace rho::cli
