// rho bench: the CLI over bench/ (throughput, MFU, and peak memory measured one process per
// variant).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "bench/bench.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "common/error.h"
#include "common/runtime.h"
#include "model/config.h"
#include "train/master_weights.h"

namespace rho::cli {

namespace {

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
                "--objective %s --ratio %.17g --head-chunk %lld --threads %d --blas-threads %d --device '%s' "
                "--precision %s%s",
                self, o.preset.c_str(), (long long)o.vocab_size, (long long)o.seq_len, (long long)o.micro_batch,
                (long long)o.steps, objective.c_str(), o.ratio, (long long)o.head.chunk_tokens, torch_threads, blas,
                o.compute.device.str().c_str(), o.compute.bf16() ? "bf16" : "fp32", o.head.fused ? "" : " --plain-head");
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

// --memory: peak RSS of each head (plain, fused) x objective, each in a fresh process.
void print_memory_table(const BenchOptions& o, int torch_threads, int blas) {
  const double MiB = 1 << 20;
  auto c = preset(o.preset);
  std::printf("preset %s | vocab %lld | B %lld x T %lld | %lld step(s) per probe, each in a fresh process\n",
              o.preset.c_str(), (long long)(o.vocab_size > 0 ? o.vocab_size : c.vocab_size),
              (long long)o.micro_batch, (long long)o.seq_len, (long long)o.steps);
  std::printf("%-12s %-6s %14s %14s %16s\n", "objective", "head", "RSS before", "peak RSS", "step (peak-before)");
  std::vector<std::string> objectives{"clm"};
  if (o.slm) objectives.push_back("slm");
  for (auto& obj : objectives) {
    double step[2] = {0, 0};
    for (int fused = 0; fused < 2; ++fused) {
      auto po = o;
      po.head.fused = fused;
      auto m = memory_probe_in_child(po, obj, torch_threads, blas);
      step[fused] = double(m.peak_rss_bytes - m.rss_before_bytes);
      std::printf("%-12s %-6s %10.1f MiB %10.1f MiB %12.1f MiB\n", obj.c_str(), fused ? "fused" : "plain",
                  m.rss_before_bytes / MiB, m.peak_rss_bytes / MiB, step[fused] / MiB);
    }
    std::printf("%-12s fused step memory is %.1f%% lower than plain\n", obj.c_str(), 100.0 * (1.0 - step[1] / step[0]));
  }
}

// The speed report: the main figures, then each variant against CLM.
void print_speed_report(const BenchOptions& o, const BenchResult& r) {
  const double MiB = 1 << 20;
  const bool gpu = !o.compute.device.is_cpu();
  std::printf("preset %s | params %s | B %lld x T %lld | %s | torch threads %d | OpenBLAS threads %d | head %s\n",
              o.preset.c_str(), format_count(double(r.params)).c_str(), (long long)o.micro_batch,
              (long long)o.seq_len, o.compute.describe().c_str(), torch::get_num_threads(), blas_threads(),
              o.head.fused ? "fused" : "plain");
  std::printf("%s matmul peak %8.1f GFLOP/s (measured)\n", o.compute.bf16() && gpu ? "bf16" : "fp32", r.peak_gflops);
  std::printf("train step median  %8.1f ms over %lld steps\n", r.step_ms_median, (long long)o.steps);
  std::printf("tokens/s           %8.0f\n", r.tokens_per_s);
  std::printf("FLOPs/token        %8.3g (6N + 12LTC)\n", r.flops_per_token);
  std::printf("MFU                %8.1f %%%s\n", 100.0 * r.mfu,
              gpu ? "  (of the measured peak; TinyLlama's own trainer reports 56% on A100s)" : "");
  if (!gpu)
    std::printf("MFU in CPU time    %8.1f %%  (model FLOPs per CPU-second over the matmul's, %.1f GFLOP/CPU-s)\n",
                100.0 * r.mfu_cpu, r.peak_cpu_gflops);
  for (auto& v : r.variants) {
    const double tps = double(o.micro_batch * o.seq_len) / (v.step_ms_median / 1e3);
    std::printf("variant %-18s %8.1f ms  %9.0f tok/s  MFU %5.1f %%", v.name.c_str(), v.step_ms_median, tps,
                v.name == "score" ? 0.0 : 100.0 * tps * r.flops_per_token / (r.peak_gflops * 1e9));
    if (v.peak_device_bytes >= 0) std::printf("  peak GPU memory %.1f GiB", double(v.peak_device_bytes) / (1 << 30));
    std::printf("\n");
  }
  if (o.score)
    std::printf("score tokens/s are %.2fx the CLM training step's\n", r.variant_ms("clm") / r.variant_ms("score"));
  const char* what[][2] = {{"slm-offline", "SLM step, offline "}, {"slm-online", "SLM step, online  "},
                           {"clm-plain", "CLM, plain head   "}, {"slm-offline-plain", "SLM off, plain hd "}};
  for (auto& w : what) {
    const double ms = r.variant_ms(w[0]);
    if (ms > 0) std::printf("%s %8.1f ms  (%.3fx CLM)\n", w[1], ms, ms / r.step_ms_median);
  }
  if (!gpu) {
    std::printf("process CPU time per step (median; steadier than wall time on a shared machine):\n");
    for (auto& v : r.variants)
      std::printf("  %-18s %8.1f ms  (%.3fx CLM)\n", v.name.c_str(), v.cpu_ms_median,
                  v.cpu_ms_median / r.variants[0].cpu_ms_median);
  }
  if (o.slm) std::printf("SLM ratio %.2f; offline = scores looked up, online = reference forward inside the step\n", o.ratio);
  if (o.compare_plain) {
    const double clm_plain = r.variant_ms("clm-plain");
    std::printf("MFU with plain head %7.1f %%\n", 100.0 * r.mfu * r.step_ms_median / clm_plain);
  }
  std::printf("peak RSS           %8.1f MiB (whole run, all variants)\n", double(r.peak_rss_bytes) / MiB);
  for (const auto& [variant, table] : r.profiles) std::printf("\nprofile of %s:\n%s", variant.c_str(), table.c_str());
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "Measure training tokens/s, MFU and peak memory (docs/performance.md)");
  auto o = std::make_shared<BenchOptions>();
  auto blas = std::make_shared<int>(0);
  auto memory = std::make_shared<bool>(false);
  auto memory_child = std::make_shared<bool>(false);
  auto no_online = std::make_shared<bool>(false);
  sub->add_option("--preset", o->preset, "Model shape")->check(CLI::IsMember(preset_names()));
  sub->add_option("--vocab", o->vocab_size, "Vocabulary size (0: the preset's)")->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  sub->add_option("--seq-len", o->seq_len, "Tokens per sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->micro_batch, "Sequences per step")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--steps", o->steps, "Timed steps (with --memory: steps per probe)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--warmup", o->warmup, "Untimed warm-up steps")->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  sub->add_option("--blas-threads", *blas, "OpenBLAS threads (0: OPENBLAS_NUM_THREADS, else every core)")
      ->check(CLI::Range(0, 1024));
  sub->add_flag("--compare-plain", o->compare_plain, "Also time CLM and SLM offline with the plain head, interleaved");
  sub->add_flag("--no-online", *no_online, "SLM: skip the online-reference variant");
  sub->add_flag("--memory", *memory,
                "Peak memory instead of speed: each head (plain, fused) x objective in a fresh process");
  sub->add_flag("--memory-child", *memory_child, "")->group("");  // one probe, run by --memory
  auto objective = std::make_shared<std::string>("clm");
  auto master_weights = std::make_shared<std::string>("none");
  sub->add_option("--objective", *objective, "clm, or slm to also time SLM steps (offline scores, online reference)")
      ->check(CLI::IsMember({"clm", "slm"}));
  sub->add_option("--ratio", o->ratio, "SLM: fraction of tokens kept")->check(unit_fraction());
  sub->add_flag("--score", o->score, "Also time `rho score`'s forward pass (tokens/s)");
  sub->add_option("--profile", o->profile_dir,
                  "Directory: profile --profile-steps more steps of each variant (libtorch's profiler) and print "
                  "the most expensive kernels (CPU: operators) with their share of the step; traces go there");
  sub->add_option("--profile-steps", o->profile_steps, "Steps profiled per variant with --profile")
      ->check(CLI::Range(int64_t(1), int64_t(1000)));
  sub->add_option("--master-weights", *master_weights, "bf16 runs: none (fp32 parameters under autocast) or fp32 "
                  "(bf16 parameters, fp32 masters), as rho train's flag")
      ->check(CLI::IsMember({"none", "fp32"}));
  auto run = add_run_flags(sub, {/*head=*/true, /*tokenizer_record=*/false});  // synthetic models: no tokenizer
  sub->callback([o, run, blas, memory, memory_child, no_online, objective, master_weights] {
    start_model_command(*run, *blas);
    o->compute = run->compute();
    o->master_weights = *master_weights == "fp32";
    if (o->master_weights) require_bf16_for_master_weights(o->compute.bf16());
    o->head = run->head;
    o->slm = *objective == "slm";
    o->online = !*no_online;
    if (*memory_child) {
      auto m = run_memory_probe(*o);
      std::printf("memory-probe rss_before %lld peak_rss %lld\n", (long long)m.rss_before_bytes, (long long)m.peak_rss_bytes);
    } else if (*memory) {
      print_memory_table(*o, run->threads, *blas);
    } else {
      print_speed_report(*o, run_bench(*o));
    }
  });
}

}  // namespace rho::cli
