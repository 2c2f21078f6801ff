// The evaluation protocols' last details, each against what the reference's own code gives:
// Python's random.Random and lm-eval's few-shot draw (tests/fixtures/py_random_sample.json, made
// by scripts/harness/py_random_fixture.py with python3), BOS as the tokenizer says (lm-eval
// >= 0.4.9.2), and the math harness's gold parsed twice, empty completions, the math folder and
// the rounded average (values from the harness's parser.py / math_eval.py, noted at each test).
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "common/py_random.h"
#include "eval/bos.h"
#include "eval/choice/choice.h"
#include "eval/harness/answer.h"
#include "eval/harness/fewshot.h"
#include "eval/harness/math_tasks.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using nlohmann::json;
using rho_test::contains;
using rho_test::error_of;
using rho_test::TempDir;

json py_fixture() { return json::parse(rho::read_file(rho_test::fixture_dir() + "/py_random_sample.json")); }

}  // namespace

TEST(PyRandom, DrawsWhatPythonDraws) {
  const json f = py_fixture();
  rho::py::Random bits(f["bits"]["seed"].get<uint64_t>());
  for (const auto& kv : f["bits"]["getrandbits"])
    EXPECT_EQ(bits.getrandbits(kv[0].get<int>()), kv[1].get<uint32_t>()) << "getrandbits(" << kv[0] << ")";
  int checked = 0;
  for (const auto& c : f["samples"]) {
    rho::py::Random rnd(c["seed"].get<uint64_t>());
    for (const auto& want : c["draws"]) {
      EXPECT_EQ(rnd.sample(c["n"].get<uint64_t>(), c["k"].get<uint64_t>()), want.get<std::vector<uint64_t>>())
          << "seed " << c["seed"] << ", sample(range(" << c["n"] << "), " << c["k"] << ")";
      ++checked;
    }
  }
  EXPECT_GE(checked, 50);
}

// Item 6: lm-eval's default sampler, item after item from one random.Random(1234) stream, k + 1
// drawn from the evaluated split itself with the item left out.
TEST(ChoiceFewShot, DrawIsLmEvalsSampler) {
  const json f = py_fixture();  // named: a temporary's subscript in the range-for would dangle
  for (const auto& d : f["lm_eval_draws"]) {
    std::vector<json> shots, items;
    for (int j = 0; j < d["shots"].get<int>(); ++j) shots.push_back({{"q", "item " + std::to_string(j)}});
    const bool same = d["same_split"].get<bool>();
    for (int j = 0; j < d["items"].get<int>(); ++j)
      items.push_back(same ? shots[size_t(j)] : json{{"q", "test " + std::to_string(j)}});
    const auto picks = rho::fewshot_picks("arc", items, shots, d["k"].get<int>(), same, "shots.jsonl");
    EXPECT_EQ(json(picks), d["picks"]) << d["items"] << " items from " << d["shots"] << ", k " << d["k"];
  }
}

TEST(ChoiceFewShot, MmluTakesTheFirstOfTheSameSubject) {
  std::vector<json> dev;
  for (const char* s : {"anatomy", "physics", "anatomy", "physics", "anatomy", "physics"})
    dev.push_back({{"subject", s}, {"question", "q" + std::to_string(dev.size())}});
  const std::vector<json> test = {{{"subject", "physics"}, {"question", "t0"}}, {{"subject", "anatomy"}, {"question", "t1"}}};
  const auto picks = rho::fewshot_picks("mmlu", test, dev, 2, false, "dev.jsonl");
  EXPECT_EQ(picks, (std::vector<std::vector<size_t>>{{1, 3}, {0, 2}}));
  EXPECT_TRUE(contains(error_of([&] { rho::fewshot_picks("mmlu", test, dev, 4, false, "dev.jsonl"); }),
                       "dev.jsonl: has 3 items of subject \"physics\", fewer than the 4"));
}

TEST(ChoiceFewShot, TheItemAndItsCopiesAreLeftOutOfItsOwnExamples) {
  // Two equal records: `x != doc` drops both when either is evaluated, as Python's dict compare.
  const std::vector<json> split = {{{"q", "a"}}, {{"q", "b"}}, {{"q", "a"}}};
  const auto picks = rho::fewshot_picks("arc", split, split, 2, true, "split.jsonl");
  ASSERT_EQ(picks.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    for (size_t s : picks[i]) EXPECT_NE(split[s], split[i]) << "item " << i << " got itself as an example";
  EXPECT_TRUE(contains(error_of([&] { rho::fewshot_picks("arc", split, split, 3, true, "split.jsonl"); }),
                       "split.jsonl: has 3 items, fewer than the 4 the few-shot draw needs"));
}

// Item 7: `auto` is the tokenizer's own default, as lm-eval >= 0.4.9.2 (and vLLM) encode.
TEST(Bos, AutoFollowsTheTokenizer) {
  const json tiny = json::parse(rho::read_file(rho_test::fixture_dir() + "/tokenizers/tiny/tokenizer.json"));
  std::string why;
  {  // a post-processor that appends its special token only: no BOS (GPT-2, Qwen)
    TempDir dir;
    dir.write("tokenizer.json", tiny.dump());
    const auto tok = rho::Tokenizer::load(dir.path);
    EXPECT_FALSE(rho::resolve_bos("auto", tok, dir.path, &why));
    EXPECT_TRUE(contains(why, "post-processor (adds no BOS)")) << why;
  }
  {  // one that puts a special token first: BOS (Llama-3)
    json j = tiny;
    j["post_processor"]["single"] = json::array({{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}});
    TempDir dir;
    dir.write("tokenizer.json", j.dump());
    const auto tok = rho::Tokenizer::load(dir.path);
    EXPECT_TRUE(rho::resolve_bos("auto", tok, dir.path, &why));
    EXPECT_TRUE(contains(why, "puts BOS first")) << why;
    // tokenizer_config.json's add_bos_token overrides the post-processor (transformers does).
    dir.write("tokenizer_config.json", R"({"add_bos_token": false})");
    EXPECT_FALSE(rho::resolve_bos("auto", rho::Tokenizer::load(dir.path), dir.path, &why));
    EXPECT_TRUE(contains(why, "add_bos_token")) << why;
  }
  {  // a sentencepiece model: none without a config (rho's own), BOS with one (LlamaTokenizer)
    TempDir dir;
    dir.write("tokenizer.model", rho::read_file(rho_test::fixture_dir() + "/tokenizers/rho_bpe.model"));
    EXPECT_FALSE(rho::resolve_bos("auto", rho::Tokenizer::load(dir.path), dir.path, &why));
    dir.write("tokenizer_config.json", R"({"model_max_length": 2048})");
    EXPECT_TRUE(rho::resolve_bos("auto", rho::Tokenizer::load(dir.path), dir.path, &why));
    EXPECT_TRUE(contains(why, "LlamaTokenizer's default")) << why;
    EXPECT_FALSE(rho::resolve_bos("no", rho::Tokenizer::load(dir.path), dir.path, &why));
  }
}

// Item 1: evaluate.py parses the gold a second time, strip_string'ing it again. With the
// harness's parser.py (dcfa46a2): strip_string("3:30 p.m.") = "3:30p." and strip_string of that
// = "3:30p"; "2 p.m." -> "2p." -> "2p"; "9 (apples)" -> "9" both times.
TEST(HarnessProtocol, GoldIsNormalisedTwiceAsEvaluatePyDoes) {
  const auto& asdiv = rho::math_task("asdiv");
  auto gold = [&](const std::string& answer) {
    return rho::parse_math_record(asdiv, {{"body", "b"}, {"question", "q"}, {"answer", answer}}, "t.jsonl", 1).gold;
  };
  EXPECT_EQ(rho::harness::strip_string("3:30 p.m."), "3:30p.");
  EXPECT_EQ(gold("3:30 p.m."), "3:30p");
  EXPECT_EQ(gold("2 p.m."), "2p");
  EXPECT_EQ(gold("9 (apples)"), "9");
  // The prediction goes through strip_string twice too (extract_answer, run_execute), so the
  // right answer now matches: "3:30 p.m." -> "3:30 p.m" (its "." cut) -> "3:30p." -> "3:30p".
  std::string extracted;
  EXPECT_TRUE(rho::grade_math(asdiv, "She leaves at 3:30 p.m. The answer is 3:30 p.m.", gold("3:30 p.m."), &extracted));
  EXPECT_EQ(extracted, "3:30p");
}

// Item 2: run_execute gives an empty (or "error") completion no prediction: wrong whatever the
// gold, even a gold that strips to "" (MATH's \text{east}: its unit list removes "east").
TEST(HarnessProtocol, AnEmptyCompletionIsAlwaysWrong) {
  const auto& math = rho::math_task("math");
  const std::string gold =
      rho::parse_math_record(math, {{"problem", "Which way?"}, {"solution", "It is $\\boxed{\\text{east}}$."}}, "t.jsonl", 1).gold;
  ASSERT_EQ(gold, "");
  std::string extracted = "unset";
  for (const char* completion : {"", "  \n ", "error"}) {
    EXPECT_FALSE(rho::grade_math(math, completion, gold, &extracted)) << "completion \"" << completion << "\"";
    EXPECT_EQ(extracted, "");
  }
  EXPECT_TRUE(rho::grade_math(math, "The answer is 4.", "4", &extracted));
}

// Item 5: the paper's MATH is the harness's minerva_math, read from data/math_oai only.
TEST(HarnessProtocol, MathReadsOnlyTheMathOaiFolder) {
  EXPECT_EQ(rho::math_task("math").data_dir, "math_oai");
  TempDir dir;
  dir.write("math/test.jsonl", R"({"problem": "1+1?", "solution": "$\\boxed{2}$"})" "\n");
  dir.write("minerva_math/test.jsonl", R"({"problem": "1+1?", "solution": "$\\boxed{2}$"})" "\n");
  rho::FewShotOptions o;
  o.model = dir.path + "/no-model";
  o.tokenizer = rho_test::fixture_dir() + "/tokenizers/rho_bpe.model";
  o.tasks = {"math"};
  o.harness_data = dir.path;
  o.out_dir = dir.path + "/out";
  o.allow_unrecorded_tokenizer = true;
  EXPECT_EQ(error_of([&] { rho::run_fewshot(o); }), dir.path + ": no math_oai/test.jsonl for task math");
}

// Item 4: the table's average is math_eval.py's: the mean of np.round(acc * 100, 1) per task.
// numpy gives round(100 * 1/3, 1) = 33.3, round(100 * 2/3, 1) = 66.7, round(100 * 1/8, 1) = 12.5
// (12.5 exactly), round(100 * 0.00049, 1) = 0.0; their mean 28.125.
TEST(HarnessProtocol, AverageIsOfTheRoundedTaskAccuracies) {
  EXPECT_DOUBLE_EQ(rho::harness_average_percent({1.0 / 3, 2.0 / 3, 1.0 / 8, 0.00049}), (33.3 + 66.7 + 12.5 + 0.0) / 4);
  // 0.0625 -> 6.25 -> rint(62.5) = 62 (ties to even) -> 6.2, as numpy.
  EXPECT_DOUBLE_EQ(rho::harness_average_percent({0.0625}), 6.2);
  EXPECT_DOUBLE_EQ(rho::harness_average_percent({}), 0.0);
}
