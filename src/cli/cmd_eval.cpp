// rho eval loss|fewshot|choice: the CLI over eval/ (held-out loss, the paper's few-shot math
// protocol, multiple-choice tasks).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/format_flags.h"
#include "common/error.h"
#include "eval/choice/choice.h"
#include "eval/harness/fewshot.h"
#include "eval/harness/math_tasks.h"
#include "eval/loss/loss_eval.h"

namespace rho::cli {
namespace {

void print_loss_rows(const std::vector<LossRow>& rows, int64_t seq_len) {
  size_t w = 3;
  for (auto& r : rows) w = std::max(w, r.path.size());
  std::printf("%-*s  %-6s  %9s  %11s  %8s  %10s\n", int(w), "set", "kind", "sequences", "tokens", "loss", "perplexity");
  for (auto& r : rows) {
    std::printf("%-*s  %-6s  %9lld  %11lld  %8.4f  %10.3f\n", int(w), r.path.c_str(), r.kind.c_str(),
                (long long)r.sequences, (long long)r.tokens, r.loss, r.perplexity);
    if (r.truncated > 0)
      std::fprintf(stderr, "eval loss: %s: %lld records longer than %lld tokens lost the start of their question\n",
                   r.path.c_str(), (long long)r.truncated, (long long)(seq_len + 1));
  }
}

void register_eval_loss(CLI::App& parent) {
  auto* sub = parent.add_subcommand("loss", "Mean per-token loss and perplexity on held-out sets, one table (docs/pipeline.md)");
  auto o = std::make_shared<LossEvalOptions>();
  auto fmt = std::make_shared<FormatFlags>();
  o->set.seq_len = 0;
  sub->add_option("--model", o->model, "Model directory (config.json + model.safetensors)")->required();
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer the model was trained with (.model, tokenizer.json or a model directory)")->required();
  sub->add_option("--data", o->data, "Evaluation set: shard directory or .bin file, text, or JSONL (repeatable)")
      ->required()->expected(1, -1);
  fmt->add_to(sub);
  sub->add_flag("--answer-only", o->set.answer_only, "JSONL: score only the answer of `Question: {q}\\nAnswer: {a}`");
  sub->add_option("--question-field", o->set.question_field, "--answer-only: question field")->capture_default_str();
  sub->add_option("--answer-field", o->set.answer_field, "--answer-only: answer field")->capture_default_str();
  sub->add_option("--seq-len", o->set.seq_len, "Tokens predicted per window (0: the model's max positions)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  sub->add_option("--max-tokens", o->set.max_tokens, "Score at most this many tokens per set (0: all)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 50));
  sub->add_option("--batch", o->eval.batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--json", o->json_out, "Also write the table as JSON to this file");
  auto run = add_run_flags(sub);
  sub->callback([o, fmt, run] {
    start_model_command(*run);
    o->allow_unrecorded_tokenizer = run->allow_unrecorded_tokenizer;
    o->eval.head = run->head;
    o->set.format = fmt->format();
    o->eval.compute = run->compute();
    print_loss_rows(run_loss_eval(*o), o->set.seq_len);
  });
}

void register_eval_fewshot(CLI::App& parent) {
  auto* sub = parent.add_subcommand(
      "fewshot", "Few-shot chain-of-thought math accuracy: the paper's nine tasks (--task), or custom exemplars (--train) (docs/evaluation.md)");
  auto o = std::make_shared<FewShotOptions>();
  std::string names;
  for (const auto& t : math_tasks()) names += (names.empty() ? "" : "|") + t.name;
  sub->add_option("--model", o->model, "Model directory")->required();
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer the model was trained with (.model, tokenizer.json or a model directory)")->required();
  sub->add_option("--task", o->tasks, "Harness task (" + names + "; repeatable, one table column each)");
  sub->add_option("--test", o->tests, "--task: the harness's data/<task>/test.jsonl, one per --task; --train: test JSONL");
  sub->add_option("--harness-data", o->harness_data, "The harness's data/ folder (<task>/test.jsonl): --task without --test, or alone for all nine");
  sub->add_option("--train", o->train, "Custom exemplars: GSM8K-format JSONL the exemplars are taken from");
  sub->add_option("--question-field", o->question_field, "--train: question field")->capture_default_str();
  sub->add_option("--answer-field", o->answer_field, "--train: answer field (`... #### n`)")->capture_default_str();
  sub->add_option("--shots", o->shots, "--train: exemplars per prompt")->check(CLI::Range(0, 64))->capture_default_str();
  sub->add_option("--shot-seed", o->shot_seed, "--train: 0 = the first k records; else k drawn with this seed")->capture_default_str();
  sub->add_flag("--raw-shots", o->raw_shots, "--train: keep exemplars' `#### n` ending (default: `The answer is n.`)");
  sub->add_option("--limit", o->limit, "Evaluate only the first N problems of each test file (0: all)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--max-new-tokens", o->max_new_tokens, "Generation budget per problem (the harness: 1024)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  sub->add_option("--bos", o->bos, "Start prompts with BOS: auto (as the tokenizer says: eval/bos.h; none for rho's tokenizers), yes, no")
      ->check(CLI::IsMember({"auto", "yes", "no"}))->capture_default_str();
  sub->add_option("--batch", o->batch, "Prompts generated together (left-padded to the longest)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16))->capture_default_str();
  sub->add_option("--label", o->label, "The model's name in the table (default: --model)");
  sub->add_option("--out", o->out_dir, "Directory for <task>/records.jsonl, <task>/summary.json, results.md, results.json")->required();
  auto run = add_run_flags(sub, {/*head=*/false});
  sub->callback([o, run] {
    if (!o->train.empty()) {
      if (o->tests.size() != 1) fail("--train needs exactly one --test");
      o->test = o->tests[0];
      o->tests.clear();
    }
    start_model_command(*run);
    o->allow_unrecorded_tokenizer = run->allow_unrecorded_tokenizer;
    o->compute = run->compute();
    const auto r = run_fewshot(*o);
    for (const auto& t : r.tasks)
      std::printf("%s: accuracy %.1f%% (%lld/%lld), 95%% CI %.1f-%.1f%%, %.2f problems/s\n", t.task.c_str(),
                  100 * t.accuracy, (long long)t.correct, (long long)t.problems, 100 * t.ci.lo, 100 * t.ci.hi,
                  double(t.problems) / std::max(t.seconds, 1e-9));
    if (r.tasks.size() > 1) std::printf("average: %.1f%%\n", r.average_percent);
    std::printf("-> %s/results.md\n", o->out_dir.c_str());
  });
}

void register_eval_choice(CLI::App& parent) {
  auto* sub = parent.add_subcommand(
      "choice", "Multiple-choice accuracy as lm-evaluation-harness scores it: log-likelihood of each choice, acc and acc_norm (docs/evaluation.md)");
  auto o = std::make_shared<ChoiceOptions>();
  std::string formats = "auto";
  for (const auto& f : choice_formats()) formats += "|" + f;
  sub->add_option("--model", o->models, "Model directory (repeatable: one table row each)")->required()->expected(1, -1);
  sub->add_option("--label", o->labels, "Row names, one per --model (default: the paths)")->expected(1, -1);
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer the models were trained with (.model, tokenizer.json or a model directory)")->required();
  sub->add_option("--data", o->data, "JSONL items (ARC, HellaSwag, PIQA, Winogrande, BoolQ, MMLU, SciQ, OpenBookQA, generic)")->required();
  sub->add_option("--format", o->format, "Record format (" + formats + ")")->capture_default_str();
  sub->add_option("--shots", o->shots, "Few-shot examples before each item")->check(CLI::Range(0, 64))->capture_default_str();
  sub->add_option("--shots-from", o->shots_from, "JSONL the few-shot examples are drawn from (as lm-eval: random.Random(1234).sample per item; MMLU: the first --shots of the item's subject)");
  sub->add_option("--limit", o->limit, "Only the first N items (0: all)")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--bos", o->bos, "Start contexts with BOS: auto (as the tokenizer says: lm-eval >= 0.4.9.2), no (lm-eval <= 0.4.9.1), yes")
      ->check(CLI::IsMember({"auto", "yes", "no"}))->capture_default_str();
  sub->add_option("--batch", o->batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  sub->add_option("--out", o->out_dir, "Directory for results.md, results.json, records-<k>.jsonl")->required();
  auto run = add_run_flags(sub);
  sub->callback([o, run] {
    start_model_command(*run);
    o->allow_unrecorded_tokenizer = run->allow_unrecorded_tokenizer;
    o->head = run->head;
    o->compute = run->compute();
    const auto t0 = std::chrono::steady_clock::now();
    const auto rows = run_choice_eval(*o);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& r : rows)
      std::printf("%s: acc %.1f%% (95%% CI %.1f-%.1f), acc_norm %.1f%% (%.1f-%.1f), %lld items in %.1f s\n",
                  r.label.c_str(), 100 * r.acc, 100 * r.ci.lo, 100 * r.ci.hi, 100 * r.acc_norm, 100 * r.ci_norm.lo,
                  100 * r.ci_norm.hi, (long long)r.items, r.seconds);
    std::printf("-> %s/results.md (%.1f s)\n", o->out_dir.c_str(), dt);
  });
}

}  // namespace

void register_eval(CLI::App& app) {
  auto* sub = app.add_subcommand("eval", "Evaluate models: held-out loss, few-shot math accuracy, multiple choice (docs/evaluation.md)");
  sub->require_subcommand(1);
  register_eval_loss(*sub);
  register_eval_fewshot(*sub);
  register_eval_choice(*sub);
}

}  // namespace rho::cli
