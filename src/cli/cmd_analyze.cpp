// rho analyze dynamics|select|plot: the CLI over analysis/ (token loss dynamics, the
// selected-token view, loss curves).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "analysis/dynamics.h"
#include "analysis/plot.h"
#include "analysis/select_view.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/format_flags.h"

namespace rho::cli {
namespace {

void register_analyze_dynamics(CLI::App& parent) {
  auto* sub = parent.add_subcommand("dynamics", "Token loss dynamics across checkpoints: H->H, L->H, H->L, L->L (docs/demo.md)");
  auto o = std::make_shared<DynamicsOptions>();
  auto fmt = std::make_shared<FormatFlags>();
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
  auto run = add_run_flags(sub);
  sub->callback([o, fmt, run] {
    start_model_command(*run);
    o->allow_unrecorded_tokenizer = run->allow_unrecorded_tokenizer;
    o->head = run->head;
    o->format = fmt->format();
    o->compute = run->compute();
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
  sub->add_option("--model", o->model, "Model being trained (L_theta)")->required();
  sub->add_option("--ref", o->ref, "Reference model (L_ref)")->required();
  sub->add_option("--tokenizer", o->tokenizer, "tokenizer of both models (.model, tokenizer.json or a model directory)")->required();
  auto* text = sub->add_option("--text", o->text, "The text (\\n and \\t decoded)");
  auto* file = sub->add_option("--text-file", o->text_file, "File holding the text");
  text->excludes(file);
  sub->add_option("--ratio", o->ratio, "Fraction of tokens selected (k%)")->check(unit_fraction())->capture_default_str();
  sub->add_option("--note", o->note, "A paragraph shown above the text: what to look for");
  sub->add_option("--out", o->out, "HTML file to write")->required();
  auto run = add_run_flags(sub);
  sub->callback([o, run] {
    start_model_command(*run);
    o->allow_unrecorded_tokenizer = run->allow_unrecorded_tokenizer;
    o->head = run->head;
    o->text = unescape(o->text);
    o->compute = run->compute();
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

void register_analyze(CLI::App& app) {
  auto* sub = app.add_subcommand("analyze", "Analyses: token loss dynamics, selection view, loss curves (docs/demo.md)");
  sub->require_subcommand(1);
  register_analyze_dynamics(*sub);
  register_analyze_select(*sub);
  register_analyze_plot(*sub);
}

}  // namespace rho::cli
