// rho generate / rho eval / rho analyze: placeholders until the evaluation stage lands.
#include "cli/commands.h"

namespace rho::cli {
void register_generate(CLI::App&) {}
void register_eval(CLI::App&) {}
void register_analyze(CLI::App&) {}
}  // namespace rho::cli
