// rho: one binary, a subcommand per pipeline stage.
#include <cstdio>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/runtime.h"
#include "common/torch_compat.h"
#include "dist/distributed.h"

namespace {

// Every help page at once, as one JSON object {"": `rho --help`, "eval fewshot": `rho eval
// fewshot --help`, ...}, for scripts/check-docs.py: one process instead of one a page, each of
// which pays libtorch's start-up (about 1 s of CPU, 4 s under ASan). Not listed in --help.
void print_help_pages(CLI::App& app) {
  nlohmann::json pages = nlohmann::json::object();
  std::function<void(CLI::App&, const std::string&, const std::string&)> visit =
      [&](CLI::App& a, const std::string& words, const std::string& prev) {
        pages[words] = a.help(prev);
        for (CLI::App* sub : a.get_subcommands([](CLI::App*) { return true; }))
          visit(*sub, words.empty() ? sub->get_name() : words + " " + sub->get_name(),
                prev.empty() ? a.get_name() : prev + " " + a.get_name());
      };
  visit(app, "", "");
  std::cout << pages.dump(1) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  rho::tune_allocator();
  CLI::App app{"rho: Selective Language Modeling (Rho-1) for Llama-family models. Start at README.md; "
               "each command's page is named in its line below."};
  app.require_subcommand(1);
  // What this build can do: tests and scripts read it (e.g. data-parallel tests skip without Gloo).
  app.set_version_flag("--version", [] {
    return "rho 0.1 (libtorch " + rho::compat::version_string() + "; cuda " +
           (torch::cuda::is_available() ? std::to_string(torch::cuda::device_count()) + " device(s)" : std::string("none")) +
           "; gloo " + (rho::Distributed::has_gloo() ? "yes" : "no") + "; nccl " +
           (rho::Distributed::has_nccl() ? "yes" : "no") + ")";
  });
  rho::cli::register_model(app);
  rho::cli::register_tokenizer(app);
  rho::cli::register_tokenize(app);
  rho::cli::register_score(app);
  rho::cli::register_train(app);
  rho::cli::register_bench(app);
  rho::cli::register_generate(app);
  rho::cli::register_eval(app);
  rho::cli::register_analyze(app);
  rho::cli::register_launch(app);
  rho::cli::register_hf(app);
  rho::cli::register_plan(app);
  if (argc == 2 && std::string(argv[1]) == "--help-pages-json") {
    app.name("rho");
    print_help_pages(app);
    return 0;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, like every other error (CLI11 would add a "Run with --help" line).
    std::fprintf(stderr, "rho: error: %s (see --help)\n", e.what());
    return e.get_exit_code() ? e.get_exit_code() : 2;
  } catch (const rho::UserError& e) {
    std::fprintf(stderr, "rho: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "rho: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rho: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
