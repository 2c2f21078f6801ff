// Few-shot chain-of-thought evaluation of a model on math word problems: prompts, greedy
// generation, grading (eval/grading.h), records and a summary.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eval/grading.h"
#include "model/compute.h"

namespace rho {

struct FewShotOptions {
  std::string model, tokenizer;  // model directory, sentencepiece .model
  std::string train, test;       // JSONL files: exemplars, problems
  std::string question_field = "question", answer_field = "answer";
  int shots = 8;
  uint64_t shot_seed = 0;        // 0: the first `shots` train records; else a seeded sample
  bool raw_shots = false;        // keep exemplars as written (`#### n`, calculator marks stripped)
  int64_t limit = 0;             // evaluate the first N test problems (0: all)
  int64_t max_new_tokens = 256;
  std::string out_dir;           // records.jsonl, summary.json, results.md
  bool allow_unrecorded_tokenizer = false;  // model/compat.h
  Compute compute;
};

struct FewShotResult {
  int64_t problems = 0, correct = 0;
  double accuracy = 0;
  Interval ci;
  int64_t reduced_shots = 0;      // prompts that dropped exemplars to fit the model's positions
  double mean_shots = 0;          // exemplars per prompt actually used
  int64_t truncated_prompts = 0;  // prompts too long even with no exemplars, cut on the left
  double seconds = 0;
};

// Prompts must leave max_new_tokens within the model's positions (see prompt_budget in
// eval/generate.h): a prompt that does not drops its last exemplars until it fits.
//
// The k-shot prompt for `question`: exemplars `Question: q\nAnswer: a` separated by blank lines,
// then `Question: {question}\nAnswer:`.
std::string fewshot_prompt(const std::vector<std::pair<std::string, std::string>>& shots,
                           const std::string& question);

FewShotResult run_fewshot(const FewShotOptions& opts);

}  // namespace rho
