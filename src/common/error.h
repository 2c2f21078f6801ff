// One error type for everything a user can get wrong: bad files, bad flags, bad configs.
// The CLI prints `rho: error: <what>` on one line and exits 1; tests match on the message.
#pragma once
#include <stdexcept>
#include <string>

namespace rho {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "path: problem" -- every file error names the file first.
[[noreturn]] inline void fail_file(const std::string& path, const std::string& problem) {
  throw UserError(path + ": " + problem);
}
[[noreturn]] inline void fail(const std::string& problem) { throw UserError(problem); }

}  // namespace rho
