// The absolute paths of this checkout, defined in this file alone (tests/CMakeLists.txt): a
// definition that holds a path would make every file compiled with it a ccache miss in another
// clone, so the other test files ask here.
#include "test_util.h"

namespace rho_test {

std::string fixture_dir() { return RHO_FIXTURE_DIR; }
std::string source_dir() { return RHO_SOURCE_DIR; }

}  // namespace rho_test
