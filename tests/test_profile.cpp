// rho bench --profile's tables (bench/profile.h): host operators by self time, device kernels by
// total time with the GPU's idle time between them, the attention backend read from kernel
// names, and the profiler itself on real operators.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

#include "bench/profile.h"
#include "common/fileio.h"

namespace {

constexpr int64_t kMs = 1000000;  // ns

// The table's row for `name`: its total ms, or -1 when absent.
double row_ms(const std::string& table, const std::string& name) {
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line))
    if (line.size() > name.size() && line.compare(line.size() - name.size(), name.size(), name) == 0 &&
        line[line.size() - name.size() - 1] == ' ')
      return std::stod(line);
  return -1;
}

// A [0, 100) holds B [10, 40) and C [50, 60); B holds D [20, 30); E on another thread [0, 5).
TEST(Profile, HostOperatorsAreRankedBySelfTime) {
  const std::vector<rho::ProfiledEvent> events{{"A", false, 0, 100 * kMs, 1},      {"B", false, 10 * kMs, 30 * kMs, 1},
                                               {"C", false, 50 * kMs, 10 * kMs, 1}, {"D", false, 20 * kMs, 10 * kMs, 1},
                                               {"E", false, 0, 5 * kMs, 2}};
  const auto table = rho::profile_table(events, 100.0, 2);
  EXPECT_DOUBLE_EQ(row_ms(table, "A"), 60.0) << table;
  EXPECT_DOUBLE_EQ(row_ms(table, "B"), 20.0) << table;
  EXPECT_DOUBLE_EQ(row_ms(table, "C"), 10.0) << table;
  EXPECT_DOUBLE_EQ(row_ms(table, "D"), 10.0) << table;
  EXPECT_DOUBLE_EQ(row_ms(table, "E"), 5.0) << table;
  EXPECT_LT(table.find(" A\n"), table.find(" B\n")) << table;  // largest first
  EXPECT_NE(table.find("host operators by self time"), std::string::npos) << table;
}

// Kernels [0, 10) and [5, 20) overlap, [30, 40) stands alone: busy 30 ms of 50, idle 20.
TEST(Profile, KernelsWithTheGpusIdleTimeAndAttentionBackend) {
  const std::vector<rho::ProfiledEvent> events{{"flash_fwd_kernel", true, 0, 10 * kMs, 0},
                                               {"ampere_bf16_gemm", true, 5 * kMs, 15 * kMs, 0},
                                               {"ampere_bf16_gemm", true, 30 * kMs, 10 * kMs, 0},
                                               {"aten::mm", false, 0, 40 * kMs, 1}};
  const auto table = rho::profile_table(events, 50.0, 1);
  EXPECT_NE(table.find("GPU busy 30.0 ms (60.0%), idle between kernels 20.0 ms (40.0%)"), std::string::npos) << table;
  EXPECT_NE(table.find("attention kernels: flash"), std::string::npos) << table;
  EXPECT_DOUBLE_EQ(row_ms(table, "ampere_bf16_gemm"), 25.0) << table;
  EXPECT_DOUBLE_EQ(row_ms(table, "flash_fwd_kernel"), 10.0) << table;
  EXPECT_EQ(row_ms(table, "aten::mm"), -1) << "host operators are not listed beside kernels\n" << table;
  const auto none = rho::profile_table({{"ampere_bf16_gemm", true, 0, kMs, 0}}, 1.0, 1);
  EXPECT_NE(none.find("none of flash, cuDNN or memory-efficient"), std::string::npos) << none;
}

// The profiler sees a matmul run between its start and stop, and the trace it writes is a
// Chrome trace holding it.
TEST(Profile, ProfilerRecordsOperatorsAndWritesATrace) {
  rho_test::TempDir tmp;
  const auto a = torch::randn({64, 64});
  rho::StepProfiler profiler(/*cuda=*/false);
  auto c = torch::mm(a, a);
  const auto events = profiler.stop("");
  bool saw_mm = false;
  for (const auto& e : events) saw_mm |= e.name == "aten::mm" && !e.on_device && e.duration_ns > 0;
  EXPECT_TRUE(saw_mm);
  rho::write_chrome_trace(tmp.path + "/t.json", events);
  const auto trace = nlohmann::json::parse(rho::read_file(tmp.path + "/t.json"));
  ASSERT_EQ(trace["traceEvents"].size(), events.size());
  bool traced_mm = false;
  for (const auto& e : trace["traceEvents"]) traced_mm |= e["name"] == "aten::mm" && e["ph"] == "X";
  EXPECT_TRUE(traced_mm);
}

}  // namespace
