// rho train / rho bench / rho model: the CLI over train/, bench/ and model/.
#include <cstdio>
#include <cstdlib>

#include "bench/bench.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/runtime.h"
#include "model/config.h"
#include "model/io.h"
#include "scoring/scorer.h"
#include "train/trainer.h"

namespace rho::cli {

namespace {
CLI::Validator known_preset() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        for (auto& n : preset_names()) if (n == s) return "";
        std::string all;
        for (auto& n : preset_names()) all += (all.empty() ? "" : ", ") + n;
        return "unknown preset '" + s + "' (known: " + all + ")";
      },
      "PRESET");
}
}  // namespace

void register_train(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "Train a Llama model (causal LM objective)");
  auto o = std::make_shared<TrainOptions>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--data", o->train_data, "Training shard files or directories")->required();
  sub->add_option("--val-data", o->val_data, "Validation shard files or directories");
  sub->add_option("--out", o->out_dir, "Run directory (checkpoints, metrics.jsonl, final model)")->required();
  sub->add_option("--preset", o->preset, "Model shape when starting from scratch")->check(known_preset());
  sub->add_option("--init-from", o->init_from, "Model directory to continue training from");
  sub->add_option("--objective", o->objective, "clm (every token) or slm (Selective Language Modeling)")
      ->check(CLI::IsMember({"clm", "slm"}));
  sub->add_option("--ratio", o->selection.ratio, "SLM: fraction of tokens kept (k%)")->check(unit_fraction());
  auto scope = std::make_shared<std::string>("batch");
  auto score = std::make_shared<std::string>("excess");
  sub->add_option("--selection-scope", *scope, "SLM: where top-k% is taken: sequence, micro-batch, batch (default)")
      ->check(CLI::IsMember({"sequence", "micro-batch", "batch"}));
  sub->add_option("--score", *score, "SLM: token score: excess (default), ref-loss, current-loss, random")
      ->check(CLI::IsMember({"excess", "ref-loss", "current-loss", "random"}));
  sub->add_option("--ref-scores", o->selection.ref_scores, "SLM: directory of score files from `rho score`");
  sub->add_option("--ref-model", o->selection.ref_model, "SLM: reference model run inside each step (online)");
  sub->add_option("--slm-start", o->selection.start_fraction, "SLM: plain CLM for this fraction of steps first")
      ->check(real_range(0.0, 0.999999));
  sub->add_option("--seq-len", o->seq_len, "Tokens per sequence (T)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->micro_batch, "Sequences per micro-batch (B)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--grad-accum", o->grad_accum, "Micro-batches per optimizer step")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--steps", o->optim.max_steps, "Optimizer steps")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  sub->add_option("--warmup", o->optim.warmup_steps, "Linear warmup steps")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--lr", o->optim.lr, "Peak learning rate")->check(real_range(1e-12, 1.0));
  sub->add_option("--min-lr", o->optim.min_lr, "Final learning rate of the cosine schedule")->check(real_range(0.0, 1.0));
  sub->add_option("--weight-decay", o->optim.weight_decay, "AdamW weight decay (matrices only)")->check(real_range(0.0, 10.0));
  sub->add_option("--grad-clip", o->optim.grad_clip, "Max gradient L2 norm, 0 disables")->check(real_range(0.0, 1e9));
  sub->add_option("--seed", o->seed, "Seed for initialisation and data order");
  sub->add_option("--val-every", o->val_every, "Validate every N steps (0: at the end only)")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--val-batches", o->val_batches, "Micro-batches per validation")->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  sub->add_option("--log-every", o->log_every, "Progress line every N steps")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  sub->add_option("--ckpt-every", o->ckpt_every, "Checkpoint every N steps (0: at the end only)")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--keep-last", o->keep_last, "Checkpoints kept (0: all)")->check(CLI::Range(0, 1 << 20));
  sub->add_flag("--resume", o->resume, "Continue from the run directory's latest checkpoint");
  sub->add_option("--stop-after", o->stop_after, "Stop with a checkpoint after this step (the schedule still spans --steps)")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--max-bad-steps", o->max_bad_steps, "Stop after this many non-finite loss/gradient steps in a row (each is skipped)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  sub->add_option("--threads", *threads, "libtorch intra-op threads (0: library default)")->check(CLI::Range(0, 1024));
  sub->callback([o, threads, scope, score] {
    warn_if_reference_blas();
    configure_threads(*threads);
    o->selection.scope = parse_scope(*scope);
    o->selection.score = parse_score_function(*score);
    const auto r = train(*o);
    // Stopped by SIGINT/SIGTERM after a checkpoint: the shell's convention for a signal's exit
    // status (130, 143), so `rho train && next-stage` does not go on with an unfinished model.
    if (r.stopped_by) std::exit(128 + r.stopped_by);
  });
}

void register_bench(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "Measure training tokens/s, MFU and peak memory");
  auto o = std::make_shared<BenchOptions>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--preset", o->preset, "Model shape")->check(known_preset());
  sub->add_option("--vocab", o->vocab_size, "Vocabulary size (0: the preset's)")->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  sub->add_option("--seq-len", o->seq_len, "Tokens per sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->micro_batch, "Sequences per step")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--steps", o->steps, "Timed steps")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--warmup", o->warmup, "Untimed warm-up steps")->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  sub->add_option("--threads", *threads, "libtorch intra-op threads (0: library default)")->check(CLI::Range(0, 1024));
  auto objective = std::make_shared<std::string>("clm");
  sub->add_option("--objective", *objective, "clm, or slm to also time SLM steps (offline scores, online reference)")
      ->check(CLI::IsMember({"clm", "slm"}));
  sub->add_option("--ratio", o->ratio, "SLM: fraction of tokens kept")->check(unit_fraction());
  sub->callback([o, threads, objective] {
    warn_if_reference_blas();
    configure_threads(*threads);
    o->slm = *objective == "slm";
    auto r = run_bench(*o);
    std::printf("preset %s | params %s | B %lld x T %lld | torch threads %d\n", o->preset.c_str(),
                format_count(double(r.params)).c_str(), (long long)o->micro_batch, (long long)o->seq_len,
                torch::get_num_threads());
    std::printf("fp32 matmul peak   %8.1f GFLOP/s (measured)\n", r.peak_gflops);
    std::printf("train step median  %8.1f ms over %lld steps\n", r.step_ms_median, (long long)o->steps);
    std::printf("tokens/s           %8.0f\n", r.tokens_per_s);
    std::printf("FLOPs/token        %8.3g (6N + 12LTC)\n", r.flops_per_token);
    std::printf("MFU                %8.1f %%\n", 100.0 * r.mfu);
    if (o->slm) {
      std::printf("SLM step, offline  %8.1f ms  (%.3fx CLM; ratio %.2f, scores looked up)\n", r.slm_offline_step_ms,
                  r.slm_offline_step_ms / r.step_ms_median, o->ratio);
      std::printf("SLM step, online   %8.1f ms  (%.3fx CLM; reference forward inside the step)\n",
                  r.slm_online_step_ms, r.slm_online_step_ms / r.step_ms_median);
    }
    std::printf("peak RSS           %8.1f MiB\n", double(r.peak_rss_bytes) / (1 << 20));
  });
}

void register_score(CLI::App& app) {
  auto* sub = app.add_subcommand("score", "Score token shards with a reference model (per-token losses)");
  auto o = std::make_shared<ScoreOptions>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--model", o->model, "Reference model directory")->required();
  sub->add_option("--data", o->data, "Shard files or directories")->required();
  sub->add_option("--out", o->out_dir, "Directory for the score files")->required();
  sub->add_option("--seq-len", o->seq_len, "Packing length: must equal training's --seq-len")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--threads", *threads, "libtorch intra-op threads (0: library default)")->check(CLI::Range(0, 1024));
  sub->callback([o, threads] {
    warn_if_reference_blas();
    configure_threads(*threads);
    score_shards(*o);
  });
}

void register_model(CLI::App& app) {
  auto* sub = app.add_subcommand("model", "Model presets and configs");
  sub->require_subcommand(1);
  auto* presets = sub->add_subcommand("presets", "List the named model presets");
  presets->callback([] {
    std::printf("%-16s %8s %6s %7s %6s %8s %14s\n", "preset", "hidden", "layers", "heads", "kv", "ffn", "params@vocab");
    for (auto& n : preset_names()) {
      auto c = preset(n);
      std::printf("%-16s %8lld %6lld %7lld %6lld %8lld %14s\n", n.c_str(), (long long)c.hidden_size,
                  (long long)c.num_hidden_layers, (long long)c.num_attention_heads,
                  (long long)c.num_key_value_heads, (long long)c.intermediate_size, (format_count(double(c.num_params())) + "@" +
                  std::to_string(c.vocab_size)).c_str());
    }
  });
  auto* info = sub->add_subcommand("info", "Print a model directory's config and size");
  auto dir = std::make_shared<std::string>();
  info->add_option("dir", *dir, "Model directory (config.json + model.safetensors)")->required();
  info->callback([dir] {
    auto m = load_model(*dir);
    std::printf("%s\nparams %s\n", to_json(m->config).dump(2).c_str(), format_count(double(m->config.num_params())).c_str());
  });
}

}  // namespace rho::cli
