// Multiple-choice evaluation scored as lm-evaluation-harness scores it (the paper's
// general-domain benchmarks): for each answer choice, the sum of the log-probabilities of the
// continuation's tokens given the context; acc = the choice with the highest sum is the gold
// one; acc_norm = the same after dividing each sum by the length of the choice's text (Python
// len(), i.e. characters; the harness calls it byte-length normalisation, equal for ASCII).
//
// Tokenization follows the harness's _encode_pair: trailing spaces of the context move to the
// continuation; context + continuation is encoded whole and the continuation is the tokens
// after the context's own encoding; an empty context is replaced by BOS (else EOS); sequences
// longer than the model's positions keep their end. BOS as the tokenizer says (eval/bos.h), as
// lm-eval does since 0.4.9.2 (--bos no is lm-eval up to 0.4.9.1).
//
// Few-shot examples are drawn as lm-eval's samplers draw them: random.Random(1234).sample over
// the --shots-from items, item after item, dropping the item itself when --shots-from is the
// evaluated file; MMLU takes the first k items of the same subject.
//
// Every continuation of every item is scored through measure/token_losses.h
// (shared_prefix_losses: an item's context runs once for all its choices, items batched).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/interval.h"
#include "model/compute.h"
#include "model/fused_head.h"

namespace rho {

// One item: a (context, continuation) per choice. Usually the contexts are equal and the
// continuations differ; Winogrande's partial scoring has it the other way round.
struct ChoiceDoc {
  std::vector<std::string> contexts, continuations;
  std::vector<std::string> choices;  // the texts acc_norm divides by (lengths in characters)
  int gold = 0;
  std::string description;           // put before the few-shot examples (MMLU's subject line)
};

// Public JSONL forms: arc (ai2_arc: question, choices{text,label}, answerKey), openbookqa,
// hellaswag (ctx_a, ctx_b, activity_label, endings, label), piqa (goal, sol1, sol2, label),
// winogrande (sentence with "_", option1, option2, answer), boolq (passage, question,
// label|answer), mmlu (question, choices[4], answer, subject), sciq (support, question,
// distractor1-3, correct_answer), generic (context|query|question, choices[], gold|label|answer).
const std::vector<std::string>& choice_formats();
// The format a record's fields say it is; "" when none fits.
std::string detect_choice_format(const nlohmann::json& record);
// UserError "FILE: line N: <format> record ..." for a missing or mistyped field.
ChoiceDoc parse_choice_record(const std::string& format, const nlohmann::json& record, const std::string& file,
                              int64_t line);
// The text of a solved item, for few-shot contexts: gold context + gold continuation.
std::string choice_example(const ChoiceDoc& doc);

// The few-shot examples lm-evaluation-harness's samplers pick for each item (api/samplers.py),
// as indices into `shots` (records of the --shots-from file; `items`: the evaluated records):
// MMLU takes the first k of the item's subject (first_n; one task per subject, its dev split);
// every other format draws random.Random(1234).sample(shots, k) item after item from one stream.
// With the examples taken from the evaluated split itself (`same_split`), k + 1 are drawn and the
// item's own record left out, then the first k kept. UserError naming `shots_file` when it holds
// too few.
std::vector<std::vector<size_t>> fewshot_picks(const std::string& format, const std::vector<nlohmann::json>& items,
                                               const std::vector<nlohmann::json>& shots, int k, bool same_split,
                                               const std::string& shots_file);

struct ChoiceOptions {
  std::vector<std::string> models, labels;  // one row each; labels default to the model paths
  std::string tokenizer, data, format = "auto";
  std::string shots_from;  // few-shot examples drawn from this file (same format); "" = zero-shot
  int shots = 0;
  int64_t limit = 0;       // the first N items (0: all)
  std::string bos = "auto";  // eval/bos.h modes; auto is lm-eval >= 0.4.9.2, no is <= 0.4.9.1
  int64_t batch = 64;      // items per forward pass (and about 16,384 positions)
  std::string out_dir;
  bool allow_unrecorded_tokenizer = false;  // model/model_use.h
  Compute compute;
  HeadOptions head;  // fused chunked head (default) or the plain path
};

struct ChoiceRow {
  std::string model, label;
  int64_t items = 0, correct = 0, correct_norm = 0, tokens = 0;
  double acc = 0, acc_norm = 0, seconds = 0;
  Interval ci, ci_norm;
};

// Writes out_dir/results.md and results.json (a row per model) and records-<k>.jsonl (per item:
// the log-likelihood and length of every choice, the gold, both predictions).
std::vector<ChoiceRow> run_choice_eval(const ChoiceOptions& opts);

}  // namespace rho
