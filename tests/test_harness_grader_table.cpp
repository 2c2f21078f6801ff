// rho's math_equal (eval/harness/grade.cpp with eval/harness/expr.h's GiNaC check) against the
// math-evaluation-harness's own verdicts: tests/fixtures/harness/grader_table.jsonl, written by
// scripts/harness/grader_table.py running the harness's grader.py (sympy 1.14, parse_latex's
// antlr parser on runtime 4.13; its header line names the versions). A row marked "rho_differs"
// is a known difference, with its reason; any other difference fails.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "eval/harness/answer.h"
#include "test_util.h"

namespace {

using nlohmann::json;

struct TableCounts {
  int cases = 0, agree = 0, known = 0;
};

TEST(GraderTable, RhoGradesAsTheHarnessOnItsOwnTable) {
  const std::string path = rho_test::fixture_dir() + "/harness/grader_table.jsonl";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const json header = json::parse(line);  // versions and counts; cases follow, one a line
  TableCounts n;
  while (std::getline(in, line)) {
    const json row = json::parse(line);
    const std::string pred = row.at("pred"), gold = row.at("gold"), note = row.at("note");
    const bool harness = row.at("harness"), rho = rho::harness::math_equal(pred, gold);
    ++n.cases;
    if (row.contains("rho_differs")) {
      ++n.known;
      EXPECT_NE(rho, harness) << "listed as a known difference but rho now agrees: " << pred << " vs " << gold;
      continue;
    }
    EXPECT_EQ(rho, harness) << "math_equal(\"" << pred << "\", \"" << gold << "\"): harness " << harness
                            << ", rho " << rho << " (" << note << ")";
    n.agree += rho == harness;
  }
  EXPECT_EQ(n.cases, header.at("cases").get<int>());
  EXPECT_GE(n.cases, 80);
  std::cout << "grader table: " << n.cases << " cases, " << n.agree << " agree, " << n.known
            << " known differences, " << n.cases - n.agree - n.known << " unexplained\n";
}

}  // namespace
