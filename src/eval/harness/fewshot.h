// Few-shot chain-of-thought evaluation of a model on math word problems: prompts, greedy
// generation, grading, every record kept, one table per model.
//
// Two modes:
//   - the paper's protocol (`tasks`): each task of eval/harness/math_tasks.h from the harness's own test
//     file, its compiled-in exemplars, stop strings, up to 1,024 new tokens, BOS as the
//     tokenizer says, graded by eval/harness/answer.h. A prompt that fits the model's positions
//     is kept whole and generation stops at the last position; a longer one gets no output and
//     is graded wrong (vLLM refuses it), counted as too long.
//   - custom exemplars (`train`): k exemplars from a GSM8K-format file, `Question: q\nAnswer: a`
//     joined by blank lines, graded as the harness grades gsm8k (the same grader as the tasks);
//     prompts drop exemplars to fit the model's positions. For models too small for the paper's
//     8-shot prompts.
//
// Output in out_dir: <task>/records.jsonl (prompt, generation, extracted and gold answer, ...),
// <task>/summary.json, and results.md / results.json: one row for the model, a column per task
// and their mean, as in the paper's tables (each rounded to 0.1 before averaging, as the harness).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/interval.h"
#include "model/compute.h"

namespace rho {

struct FewShotOptions {
  std::string model, tokenizer;
  std::vector<std::string> tasks;  // harness tasks, in table order
  std::vector<std::string> tests;  // test file of each task (or empty, with harness_data)
  std::string harness_data;        // a folder laid out as the harness's data/: <task>/test.jsonl
                                   // (no tasks named: all nine)
  std::string train;               // custom mode: exemplar file (GSM8K fields)
  std::string test;                // custom mode: test file
  std::string question_field = "question", answer_field = "answer";  // custom mode
  int shots = 8;                   // custom mode
  uint64_t shot_seed = 0;          // custom mode: 0 = the first `shots` records, else a seeded sample
  bool raw_shots = false;          // custom mode: keep `#### n` endings
  int64_t limit = 0;               // the first N problems of each test file (0: all)
  int64_t max_new_tokens = 1024;
  std::string bos = "auto";        // eval/bos.h
  int64_t batch = 32;              // prompts generated together (generate_batch)
  std::string out_dir;
  std::string label;               // the model's name in the table (default: the model path)
  bool allow_unrecorded_tokenizer = false;  // model/model_use.h
  Compute compute;
};

struct TaskResult {
  std::string task, test;
  int64_t problems = 0, correct = 0;
  double accuracy = 0;
  Interval ci;
  int64_t too_long_prompts = 0;   // harness mode: longer than the positions: no output, wrong
  int64_t truncated_prompts = 0;  // prompts that lost their start (custom mode; harness mode: only
                                  // one of exactly P tokens, its first)
  int64_t reduced_shots = 0;      // custom mode: prompts that dropped exemplars to fit
  double mean_shots = 0;
  std::map<std::string, int64_t> finish;  // stop / eos / length / context / too_long
  double seconds = 0;
};

struct FewShotResult {
  std::vector<TaskResult> tasks;
  // The table's average as math_eval.py computes it: the mean of the task accuracies in percent,
  // each first rounded to 0.1 as printed (np.round(acc * 100, 1)).
  double average_percent = 0;
};

// Custom mode's prompt: exemplars `Question: q\nAnswer: a` separated by blank lines, then
// `Question: {question}\nAnswer:`.
std::string fewshot_prompt(const std::vector<std::pair<std::string, std::string>>& shots,
                           const std::string& question);

FewShotResult run_fewshot(const FewShotOptions& opts);

// math_eval.py's average over tasks: each accuracy in percent rounded as it prints it
// (np.round(acc * 100, 1): rint of ten times the value, ties to even, over ten), then their mean.
double harness_average_percent(const std::vector<double>& accuracies);

// Custom exemplars: GSM8K calculator annotations `<<48/2=24>>` removed (an unclosed `<<` is kept).
std::string strip_calculator(const std::string& s);
// A GSM8K solution as an exemplar: calculator marks removed and the final `#### n` line turned
// into "The answer is n." (the wording of the paper's exemplars, which the grader reads back).
std::string exemplar_answer(const std::string& answer_text);

}  // namespace rho
