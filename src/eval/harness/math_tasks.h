// The nine math tasks of the Rho-1 paper as its evaluation harness poses them
// (ZubinGou/math-evaluation-harness at dcfa46a2: utils.py load_prompt/construct_prompt,
// parser.py parse_question/parse_ground_truth, math_eval.py's stop words), read from the
// harness's own data/<task>/test.jsonl files with each data set's field names.
//
//   task       exemplars (compiled in)   layout of the test question
//   gsm8k      gsm8k.md (Wei et al.)     Question: {q}\nAnswer:
//   math       minerva_math.md           Problem:\n{q}\nSolution:     (the harness's minerva_math)
//   svamp, asdiv, mawps, tabmwp          as gsm8k
//   mathqa     mathqa.md                 as math, multiple choice A-E
//   mmlu_stem  mmlu_stem.md              as math, multiple choice A-D
//   sat_math   mmlu_stem.md              as math, multiple choice A-D
//
// Prompt = exemplar file .strip() + "\n\n\n" + layout (utils.py at dcfa46a2; an older utils.py
// joined with "\n\n" and used Question/Answer for every task).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rho {

struct MathTask {
  std::string name;       // as on the command line
  std::string exemplars;  // file name under src/eval/harness/prompts/
  bool problem_layout;    // "Problem:\n...\nSolution:" (else "Question: ...\nAnswer:")
  std::string data_dir;   // its test file is data/<data_dir>/test.jsonl in the harness
};

// Every task, in the order of the paper's table.
const std::vector<MathTask>& math_tasks();
// UserError listing the known names for an unknown one.
const MathTask& math_task(const std::string& name);

// An exemplar file's bytes as compiled in (src/eval/harness/prompts/<file>); UserError if absent.
std::string exemplar_file(const std::string& file);

// The prompt for an already parsed question (harness construct_prompt, prompt_type "cot").
std::string math_prompt(const MathTask& task, const std::string& question);

// The stop strings of math_eval.py for chain of thought: "</s>", "\n\nQuestion:", "\n\nProblem:".
const std::vector<std::string>& math_stop_strings();

// One test record as the harness reads it: parse_question (with " (True or False)" /
// " (Yes or No)" appended for such answers) and the gold as evaluate.py grades it:
// parse_ground_truth (strip_string'ed) run a second time on its own output, which strip_string's
// the gold once more (strip_string is not idempotent: ASDiv's "3:30 p.m." becomes "3:30p." and
// then "3:30p").
struct MathItem {
  std::string question, gold;
};
// UserError "FILE: line N: ..." naming a missing or mistyped field.
MathItem parse_math_record(const MathTask& task, const nlohmann::json& record, const std::string& file, int64_t line);

// Whether the harness's grader counts `completion` (the generation) correct for `gold`: the
// completion stripped, extract_answer + strip_string, then math_equal. An empty completion (or
// the text "error") is wrong whatever the gold: run_execute gives it no prediction at all.
// `extracted` receives the prediction ("" for none).
bool grade_math(const MathTask& task, const std::string& completion, const std::string& gold, std::string* extracted);

}  // namespace rho
