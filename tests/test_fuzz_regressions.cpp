// Replays the fuzzers' seed corpora and every committed crash regression (fuzz/regressions/) through
// the same target bodies the libFuzzer binaries run, so a fixed crash stays fixed in the normal
// build too (no clang needed). A regression that crashes again aborts this binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/targets.h"
#include "test_util.h"

namespace fs = std::filesystem;

TEST(FuzzRegressions, EveryCorpusAndRegressionInputIsHandled) {
  const fs::path root = fs::path(rho_test::source_dir()) / "fuzz";
  for (const auto& t : rho::fuzz::all_targets()) {
    int replayed = 0;
    for (const char* kind : {"corpus", "regressions"}) {
      const fs::path dir = root / kind / t.name;
      if (!fs::is_directory(dir)) continue;
      for (const auto& e : fs::directory_iterator(dir)) {
        std::ifstream in(e.path(), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        SCOPED_TRACE(e.path().string());
        t.fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        ++replayed;
      }
    }
    EXPECT_GT(replayed, 0) << "no seed corpus for fuzz target " << t.name;
  }
}
