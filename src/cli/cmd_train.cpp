// rho train / rho bench / rho model: the CLI over train/, bench/ and model/.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "bench/bench.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/runtime.h"
#include "dist/distributed.h"
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
// Flags every command that trains shares: the LM head and the thread counts.
void add_head_flags(CLI::App* sub, HeadOptions& head, std::shared_ptr<bool> plain) {
  sub->add_flag("--plain-head", *plain, "Plain LM head (full logits + cross-entropy) instead of the fused chunked one");
  sub->add_option("--head-chunk", head.chunk_tokens, "Fused head: tokens per logits chunk (0: about 8 MiB of logits)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 30));
}

void add_blas_threads_flag(CLI::App* sub, std::shared_ptr<int> blas) {
  sub->add_option("--blas-threads", *blas, "OpenBLAS threads (0: OPENBLAS_NUM_THREADS, else every core)")
      ->check(CLI::Range(0, 1024));
}

// Runs this binary again as `rho bench ... --memory-child` and reads back its RSS figures: peak
// RSS only grows, so each variant needs a process of its own.
MemoryProbe memory_probe_in_child(const BenchOptions& o, const std::string& objective, int torch_threads, int blas) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) fail("cannot find this executable (/proc/self/exe) to start a memory probe");
  self[n] = 0;
  char cmd[8192];
  std::snprintf(cmd, sizeof cmd,
                "'%s' bench --memory-child --preset '%s' --vocab %lld --seq-len %lld --batch %lld --steps %lld "
                "--objective %s --ratio %.17g --head-chunk %lld --threads %d --blas-threads %d%s",
                self, o.preset.c_str(), (long long)o.vocab_size, (long long)o.seq_len, (long long)o.micro_batch,
                (long long)o.steps, objective.c_str(), o.ratio, (long long)o.head.chunk_tokens, torch_threads, blas,
                o.head.fused ? "" : " --plain-head");
  std::FILE* p = popen(cmd, "r");
  if (!p) fail("cannot start a memory probe: " + std::string(cmd));
  MemoryProbe m;
  long long before = -1, peak = -1;
  char line[512];
  while (std::fgets(line, sizeof line, p))
    std::sscanf(line, "memory-probe rss_before %lld peak_rss %lld", &before, &peak);
  const int rc = pclose(p);
  if (rc != 0 || before < 0 || peak < 0) fail("memory probe failed (exit status " + std::to_string(rc) + "): " + cmd);
  m.rss_before_bytes = before;
  m.peak_rss_bytes = peak;
  return m;
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
  auto plain = std::make_shared<bool>(false);
  auto blas = std::make_shared<int>(0);
  add_head_flags(sub, o->head, plain);
  add_blas_threads_flag(sub, blas);
  sub->callback([o, threads, scope, score, plain, blas] {
    warn_if_reference_blas();
    configure_threads(*threads);
    configure_blas_threads(*blas);
    o->head.fused = !*plain;
    o->selection.scope = parse_scope(*scope);
    o->selection.score = parse_score_function(*score);
    // Data parallel when launched as several processes (rho launch, torchrun, Slurm, mpirun).
    const DistEnv env = dist_env_from_environment();
    std::unique_ptr<Distributed> dist;
    if (env.world > 1) {
      dist = Distributed::connect(env, torch::kCPU);
      o->rank = env.rank;
      o->world = env.world;
    }
    const auto r = train(*o, dist.get());
    // Stopped by SIGINT/SIGTERM after a checkpoint: the shell's convention for a signal's exit
    // status (130, 143), so `rho train && next-stage` does not go on with an unfinished model.
    if (r.stopped_by) std::exit(128 + r.stopped_by);
  });
}

void register_bench(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "Measure training tokens/s, MFU and peak memory");
  auto o = std::make_shared<BenchOptions>();
  auto threads = std::make_shared<int>(0);
  auto blas = std::make_shared<int>(0);
  auto plain = std::make_shared<bool>(false);
  auto memory = std::make_shared<bool>(false);
  auto memory_child = std::make_shared<bool>(false);
  auto no_online = std::make_shared<bool>(false);
  sub->add_option("--preset", o->preset, "Model shape")->check(known_preset());
  sub->add_option("--vocab", o->vocab_size, "Vocabulary size (0: the preset's)")->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  sub->add_option("--seq-len", o->seq_len, "Tokens per sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->micro_batch, "Sequences per step")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--steps", o->steps, "Timed steps (with --memory: steps per probe)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--warmup", o->warmup, "Untimed warm-up steps")->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  sub->add_option("--threads", *threads, "libtorch intra-op threads (0: library default)")->check(CLI::Range(0, 1024));
  add_blas_threads_flag(sub, blas);
  add_head_flags(sub, o->head, plain);
  sub->add_flag("--compare-plain", o->compare_plain, "Also time CLM and SLM offline with the plain head, interleaved");
  sub->add_flag("--no-online", *no_online, "SLM: skip the online-reference variant");
  sub->add_flag("--memory", *memory,
                "Peak memory instead of speed: each head (plain, fused) x objective in a fresh process");
  sub->add_flag("--memory-child", *memory_child, "")->group("");  // one probe, run by --memory
  auto objective = std::make_shared<std::string>("clm");
  sub->add_option("--objective", *objective, "clm, or slm to also time SLM steps (offline scores, online reference)")
      ->check(CLI::IsMember({"clm", "slm"}));
  sub->add_option("--ratio", o->ratio, "SLM: fraction of tokens kept")->check(unit_fraction());
  sub->callback([o, threads, blas, plain, memory, memory_child, no_online, objective] {
    warn_if_reference_blas();
    configure_threads(*threads);
    configure_blas_threads(*blas);
    o->head.fused = !*plain;
    o->slm = *objective == "slm";
    o->online = !*no_online;
    if (*memory_child) {
      auto m = run_memory_probe(*o);
      std::printf("memory-probe rss_before %lld peak_rss %lld\n", (long long)m.rss_before_bytes, (long long)m.peak_rss_bytes);
      return;
    }
    const double MiB = 1 << 20;
    if (*memory) {
      auto c = preset(o->preset);
      std::printf("preset %s | vocab %lld | B %lld x T %lld | %lld step(s) per probe, each in a fresh process\n",
                  o->preset.c_str(), (long long)(o->vocab_size > 0 ? o->vocab_size : c.vocab_size),
                  (long long)o->micro_batch, (long long)o->seq_len, (long long)o->steps);
      std::printf("%-12s %-6s %14s %14s %16s\n", "objective", "head", "RSS before", "peak RSS", "step (peak-before)");
      std::vector<std::string> objectives{"clm"};
      if (o->slm) objectives.push_back("slm");
      for (auto& obj : objectives) {
        double step[2] = {0, 0};
        for (int fused = 0; fused < 2; ++fused) {
          auto po = *o;
          po.head.fused = fused;
          auto m = memory_probe_in_child(po, obj, *threads, *blas);
          step[fused] = double(m.peak_rss_bytes - m.rss_before_bytes);
          std::printf("%-12s %-6s %10.1f MiB %10.1f MiB %12.1f MiB\n", obj.c_str(), fused ? "fused" : "plain",
                      m.rss_before_bytes / MiB, m.peak_rss_bytes / MiB, step[fused] / MiB);
        }
        std::printf("%-12s fused step memory is %.1f%% lower than plain\n", obj.c_str(), 100.0 * (1.0 - step[1] / step[0]));
      }
      return;
    }
    auto r = run_bench(*o);
    std::printf("preset %s | params %s | B %lld x T %lld | torch threads %d | OpenBLAS threads %d | head %s\n",
                o->preset.c_str(), format_count(double(r.params)).c_str(), (long long)o->micro_batch,
                (long long)o->seq_len, torch::get_num_threads(), blas_threads(), o->head.fused ? "fused" : "plain");
    std::printf("fp32 matmul peak   %8.1f GFLOP/s (measured)\n", r.peak_gflops);
    std::printf("train step median  %8.1f ms over %lld steps\n", r.step_ms_median, (long long)o->steps);
    std::printf("tokens/s           %8.0f\n", r.tokens_per_s);
    std::printf("FLOPs/token        %8.3g (6N + 12LTC)\n", r.flops_per_token);
    std::printf("MFU                %8.1f %%\n", 100.0 * r.mfu);
    std::printf("MFU in CPU time    %8.1f %%  (model FLOPs per CPU-second over the matmul's, %.1f GFLOP/CPU-s)\n",
                100.0 * r.mfu_cpu, r.peak_cpu_gflops);
    const char* what[][2] = {{"slm-offline", "SLM step, offline "}, {"slm-online", "SLM step, online  "},
                             {"clm-plain", "CLM, plain head   "}, {"slm-offline-plain", "SLM off, plain hd "}};
    for (auto& w : what) {
      const double ms = r.variant_ms(w[0]);
      if (ms > 0) std::printf("%s %8.1f ms  (%.3fx CLM)\n", w[1], ms, ms / r.step_ms_median);
    }
    std::printf("process CPU time per step (median; steadier than wall time on a shared machine):\n");
    for (auto& v : r.variants)
      std::printf("  %-18s %8.1f ms  (%.3fx CLM)\n", v.name.c_str(), v.cpu_ms_median,
                  v.cpu_ms_median / r.variants[0].cpu_ms_median);
    if (o->slm) std::printf("SLM ratio %.2f; offline = scores looked up, online = reference forward inside the step\n", o->ratio);
    if (o->compare_plain) {
      const double clm_plain = r.variant_ms("clm-plain");
      std::printf("MFU with plain head %7.1f %%\n", 100.0 * r.mfu * r.step_ms_median / clm_plain);
    }
    std::printf("peak RSS           %8.1f MiB (whole run, all variants)\n", double(r.peak_rss_bytes) / MiB);
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
