// rho generate / rho eval loss|fewshot|choice / rho analyze dynamics|select|plot: the CLI over eval/
// and analysis/.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "analysis/dynamics.h"
#include "analysis/plot.h"
#include "analysis/select_view.h"
#include "cli/commands.h"
#include "cli/format_flags.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "eval/choice.h"
#include "eval/fewshot.h"
#include "eval/generate.h"
#include "eval/loss_eval.h"
#include "eval/math_tasks.h"
#include "model/compat.h"

namespace rho::cli {
namespace {

void add_threads(CLI::App* sub, const std::shared_ptr<int>& threads) {
  sub->add_option("--threads", *threads, "libtorch intra-op threads (0: library default)")->check(CLI::Range(0, 1024));
}

void start_model_command(int threads) {
  warn_if_reference_blas();
  configure_threads(threads);
}

void add_allow_unrecorded(CLI::App* sub, bool& allow) {
  sub->add_flag("--allow-unrecorded-tokenizer", allow,
                "Use models that record no tokenizer (the check is skipped, with a warning)");
}

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
  auto threads = std::make_shared<int>(0);
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
  add_threads(sub, threads);
  add_allow_unrecorded(sub, o->allow_unrecorded_tokenizer);
  auto compute = add_compute_flags(sub);
  sub->callback([o, fmt, threads, compute] {
    start_model_command(*threads);
    o->set.format = fmt->format();
    o->eval.compute = compute->resolve();
    print_loss_rows(run_loss_eval(*o), o->set.seq_len);
  });
}

void register_eval_fewshot(CLI::App& parent) {
  auto* sub = parent.add_subcommand(
      "fewshot", "Few-shot chain-of-thought math accuracy: the paper's nine tasks (--task), or custom exemplars (--train) (docs/evaluation.md)");
  auto o = std::make_shared<FewShotOptions>();
  auto threads = std::make_shared<int>(0);
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
  sub->add_option("--bos", o->bos, "Start prompts with BOS: auto (tokenizer_config.json's add_bos_token; none for rho's tokenizers), yes, no")
      ->check(CLI::IsMember({"auto", "yes", "no"}))->capture_default_str();
  sub->add_option("--batch", o->batch, "Prompts generated together (left-padded to the longest)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16))->capture_default_str();
  sub->add_option("--label", o->label, "The model's name in the table (default: --model)");
  sub->add_option("--out", o->out_dir, "Directory for <task>/records.jsonl, <task>/summary.json, results.md, results.json")->required();
  add_threads(sub, threads);
  add_allow_unrecorded(sub, o->allow_unrecorded_tokenizer);
  auto compute = add_compute_flags(sub);
  sub->callback([o, threads, compute] {
    if (!o->train.empty()) {
      if (o->tests.size() != 1) fail("--train needs exactly one --test");
      o->test = o->tests[0];
      o->tests.clear();
    }
    start_model_command(*threads);
    o->compute = compute->resolve();
    const auto r = run_fewshot(*o);
    for (const auto& t : r.tasks)
      std::printf("%s: accuracy %.1f%% (%lld/%lld), 95%% CI %.1f-%.1f%%, %.2f problems/s\n", t.task.c_str(),
                  100 * t.accuracy, (long long)t.correct, (long long)t.problems, 100 * t.ci.lo, 100 * t.ci.hi,
                  double(t.problems) / std::max(t.seconds, 1e-9));
    if (r.tasks.size() > 1) std::printf("average: %.1f%%\n", 100 * r.average);
    std::printf("-> %s/results.md\n", o->out_dir.c_str());
  });
}

void register_eval_choice(CLI::App& parent) {
  auto* sub = parent.add_subcommand(
      "choice", "Multiple-choice accuracy as lm-evaluation-harness scores it: log-likelihood of each choice, acc and acc_norm (docs/evaluation.md)");
  auto o = std::make_shared<ChoiceOptions>();
  auto threads = std::make_shared<int>(0);
  std::string formats = "auto";
  for (const auto& f : choice_formats()) formats += "|" + f;
  sub->add_option("--model", o->models, "Model directory (repeatable: one table row each)")->required()->expected(1, -1);
  sub->add_option("--label", o->labels, "Row names, one per --model (default: the paths)")->expected(1, -1);
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer the models were trained with (.model, tokenizer.json or a model directory)")->required();
  sub->add_option("--data", o->data, "JSONL items (ARC, HellaSwag, PIQA, Winogrande, BoolQ, MMLU, SciQ, OpenBookQA, generic)")->required();
  sub->add_option("--format", o->format, "Record format (" + formats + ")")->capture_default_str();
  sub->add_option("--shots", o->shots, "Few-shot examples before each item")->check(CLI::Range(0, 64))->capture_default_str();
  sub->add_option("--shots-from", o->shots_from, "JSONL the few-shot examples are taken from (the first --shots)");
  sub->add_option("--limit", o->limit, "Only the first N items (0: all)")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--bos", o->bos, "Start contexts with BOS: no (the harness's default), yes, auto (eval fewshot's rule)")
      ->check(CLI::IsMember({"auto", "yes", "no"}))->capture_default_str();
  sub->add_option("--batch", o->batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  sub->add_option("--out", o->out_dir, "Directory for results.md, results.json, records-<k>.jsonl")->required();
  add_threads(sub, threads);
  add_allow_unrecorded(sub, o->allow_unrecorded_tokenizer);
  auto compute = add_compute_flags(sub);
  sub->callback([o, threads, compute] {
    start_model_command(*threads);
    o->compute = compute->resolve();
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

void register_analyze_dynamics(CLI::App& parent) {
  auto* sub = parent.add_subcommand("dynamics", "Token loss dynamics across checkpoints: H->H, L->H, H->L, L->L (docs/demo.md)");
  auto o = std::make_shared<DynamicsOptions>();
  auto fmt = std::make_shared<FormatFlags>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer of the checkpoints (.model, tokenizer.json or a model directory)")->required();
  sub->add_option("--data", o->data, "Fixed set: shard directory or .bin, text, or JSONL")->required();
  fmt->add_to(sub);
  sub->add_option("--max-tokens", o->max_tokens, "Tokens analysed (the first N of the set)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40))->capture_default_str();
  sub->add_option("--seq-len", o->seq_len, "Tokens predicted per window (0: the checkpoints' max positions)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  sub->add_option("--batch", o->batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--out", o->out_dir, "Directory for tokens.csv, shares.md, summary.json, curves.png")->required();
  sub->add_option("checkpoints", o->checkpoints, "Model/checkpoint directories, oldest first")->required()->expected(2, -1);
  add_threads(sub, threads);
  add_allow_unrecorded(sub, o->allow_unrecorded_tokenizer);
  auto compute = add_compute_flags(sub);
  sub->callback([o, fmt, threads, compute] {
    start_model_command(*threads);
    o->format = fmt->format();
    o->compute = compute->resolve();
    const DynamicsReport r = run_dynamics(*o);
    std::printf("%s", r.shares_md.c_str());
    if (r.plot.empty())
      std::fprintf(stderr, "dynamics: gnuplot not installed; skipped curves.png (the curves are in summary.json)\n");
    else
      std::fprintf(stderr, "dynamics: wrote %s\n", r.plot.c_str());
  });
}

void register_analyze_select(CLI::App& parent) {
  auto* sub = parent.add_subcommand("select", "HTML page colouring a text's tokens by excess loss, marking the selected ones (docs/slm.md)");
  auto o = std::make_shared<SelectViewOptions>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--model", o->model, "Model being trained (L_theta)")->required();
  sub->add_option("--ref", o->ref, "Reference model (L_ref)")->required();
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer of both models (.model, tokenizer.json or a model directory)")->required();
  auto* text = sub->add_option("--text", o->text, "The text (\\n and \\t decoded)");
  auto* file = sub->add_option("--text-file", o->text_file, "File holding the text");
  text->excludes(file);
  sub->add_option("--ratio", o->ratio, "Fraction of tokens selected (k%)")->check(unit_fraction())->capture_default_str();
  sub->add_option("--note", o->note, "A paragraph shown above the text: what to look for");
  sub->add_option("--out", o->out, "HTML file to write")->required();
  add_threads(sub, threads);
  add_allow_unrecorded(sub, o->allow_unrecorded_tokenizer);
  auto compute = add_compute_flags(sub);
  sub->callback([o, threads, compute] {
    start_model_command(*threads);
    o->text = unescape(o->text);
    o->compute = compute->resolve();
    const auto views = run_select_view(*o);
    int64_t scored = 0, selected = 0;
    for (const auto& v : views) {
      scored += v.scored;
      selected += v.selected;
    }
    std::printf("wrote %s: %lld tokens scored, %lld selected at ratio %.2f\n", o->out.c_str(), (long long)scored,
                (long long)selected, o->ratio);
  });
}

void register_analyze_plot(CLI::App& parent) {
  auto* sub = parent.add_subcommand("plot", "Loss-versus-tokens curves of several runs, with gnuplot (docs/demo.md)");
  auto o = std::make_shared<LossPlotOptions>();
  sub->add_option("--out", o->out, "Image to write (.png; .svg for SVG)")->required();
  sub->add_option("--metric", o->metric, "metrics.jsonl key on the y axis (val_loss, loss, loss_selected, ...)")->capture_default_str();
  sub->add_option("--x", o->x, "x axis")->check(CLI::IsMember({"tokens_seen", "tokens_trained", "step"}))->capture_default_str();
  sub->add_option("runs", o->runs, "LABEL=RUN_DIR/metrics.jsonl (or LABEL=RUN_DIR), one per curve")->required()->expected(1, -1);
  sub->callback([o] {
    const std::string written = run_loss_plot(*o);
    std::printf("wrote %s\n", written.c_str());
  });
}

}  // namespace

void register_generate(CLI::App& app) {
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt, greedy or sampled, with a KV cache (docs/pipeline.md)");
  struct Flags {
    std::string model, tokenizer;
    std::vector<std::string> prompts, prompt_files, stops;
    GenerateOptions g;
    bool no_cache = false, show_prompt = false, allow_unrecorded = false;
  };
  auto f = std::make_shared<Flags>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--model", f->model, "Model directory")->required();
  sub->add_option("--tokenizer", f->tokenizer, "tokenizer the model was trained with (.model, tokenizer.json or a model directory)")->required();
  auto* p = sub->add_option("--prompt", f->prompts, "Prompt text (\\n decoded; repeat for several prompts)");
  auto* pf = sub->add_option("--prompt-file", f->prompt_files, "File whose whole content is one prompt (repeatable)");
  sub->add_option("--max-new-tokens", f->g.max_new_tokens, "Most new tokens per prompt")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  sub->add_option("--temperature", f->g.temperature, "0: greedy; > 0: sample")->check(real_range(0.0, 100.0))->capture_default_str();
  sub->add_option("--top-p", f->g.top_p, "Sampling: nucleus mass kept")->check(unit_fraction())->capture_default_str();
  sub->add_option("--stop", f->stops, "Stop strings (\\n decoded), cut from the output")->expected(1, -1);
  sub->add_option("--seed", f->g.seed, "Sampling seed")->capture_default_str();
  sub->add_option("--batch", f->g.batch_size, "Prompts generated together (left-padded to the longest), up to this many")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
  sub->add_flag_function("--no-eos-stop", [f](int64_t) { f->g.stop_at_eos = false; }, "Keep generating past EOS");
  sub->add_flag("--no-cache", f->no_cache, "Re-run the whole sequence each step (slow; for checking the cache)");
  sub->add_flag("--show-prompt", f->show_prompt, "Print the prompt before its continuation");
  add_threads(sub, threads);
  add_allow_unrecorded(sub, f->allow_unrecorded);
  auto compute = add_compute_flags(sub);
  sub->callback([f, threads, p, pf, compute] {
    if (p->count() + pf->count() == 0) fail("give --prompt or --prompt-file");
    start_model_command(*threads);
    const Tokenizer tok = Tokenizer::load(f->tokenizer);
    auto model = load_model_for(f->model, {"model", tok.id(), 0, f->allow_unrecorded});
    model->eval();
    prepare_for_inference(*model, compute->resolve());
    std::vector<std::string> texts;
    for (auto& s : f->prompts) texts.push_back(unescape(s));
    for (auto& file : f->prompt_files) texts.push_back(read_file(file));
    std::vector<std::vector<int32_t>> ids;
    for (auto& t : texts) ids.push_back(tok.encode(t));
    GenerateOptions g = f->g;
    g.use_cache = !f->no_cache;
    for (auto& s : f->stops) g.stop.push_back(unescape(s));
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = generate_batch(model, tok, ids, g);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t new_tokens = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out.size() > 1) std::printf("%s=== %zu ===\n", i ? "\n" : "", i);
      if (f->show_prompt) std::printf("%s", texts[i].c_str());
      std::printf("%s\n", out[i].text.c_str());
      std::fprintf(stderr, "generate: prompt %zu: %lld prompt tokens%s, %zu new, finish: %s\n", i,
                   (long long)out[i].prompt_tokens, out[i].prompt_truncated ? " (start cut)" : "",
                   out[i].tokens.size(), out[i].finish.c_str());
      new_tokens += int64_t(out[i].tokens.size());
    }
    std::fprintf(stderr, "generate: %lld tokens in %s (%.1f tok/s)\n", (long long)new_tokens,
                 format_duration(dt).c_str(), double(new_tokens) / std::max(dt, 1e-9));
  });
}

void register_eval(CLI::App& app) {
  auto* sub = app.add_subcommand("eval", "Evaluate models: held-out loss, few-shot math accuracy, multiple choice (docs/evaluation.md)");
  sub->require_subcommand(1);
  register_eval_loss(*sub);
  register_eval_fewshot(*sub);
  register_eval_choice(*sub);
}

void register_analyze(CLI::App& app) {
  auto* sub = app.add_subcommand("analyze", "Analyses: token loss dynamics, selection view, loss curves (docs/demo.md)");
  sub->require_subcommand(1);
  register_analyze_dynamics(*sub);
  register_analyze_select(*sub);
  register_analyze_plot(*sub);
}

}  // namespace rho::cli
