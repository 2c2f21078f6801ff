#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <cstdio>
#include <vector>

#include "bench/profile.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "measure/token_losses.h"
#include "model/config.h"
#include "train/master_weights.h"
#include "train/trainer.h"

#ifdef RHO_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace rho {
namespace {

using Clock = std::chrono::steady_clock;

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Waits for the device's queued work (a copy to the host waits for its stream).
void sync(const torch::Device& d) {
  if (!d.is_cpu()) torch::zeros({1}, torch::TensorOptions().device(d)).cpu();
}

// CUDA's caching allocator counts what tensors hold: its peak since the last reset.
int64_t device_peak_bytes(const torch::Device& d, bool reset) {
#ifdef RHO_WITH_CUDA
  if (d.is_cuda()) {
    auto* allocator = c10::cuda::CUDACachingAllocator::get();
    if (reset) allocator->resetPeakStats(d.index());
    return int64_t(allocator->getDeviceStats(d.index()).allocated_bytes[0].peak);  // [0]: all pools
  }
#endif
  (void)d;
  (void)reset;
  return -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

MatmulPeak measure_matmul_peak(const Compute& compute) {
  torch::NoGradGuard no_grad;
  MatmulPeak best;
  if (!compute.device.is_cpu()) {
    const int64_t n = 8192;
    auto o = torch::TensorOptions().device(compute.device).dtype(compute.bf16() ? torch::kBFloat16 : torch::kFloat);
    auto a = torch::randn({n, n}, o), b = torch::randn({n, n}, o), c = torch::empty({n, n}, o);
    for (int r = 0; r < 3; ++r) torch::mm_out(c, a, b);
    sync(compute.device);
    const int reps = 10;
    auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r) torch::mm_out(c, a, b);
    sync(compute.device);
    best.gflops = reps * 2.0 * double(n) * n * n / std::chrono::duration<double>(Clock::now() - t0).count() / 1e9;
    best.cpu_gflops = 0;  // the host's CPU time says nothing about a GPU
    return best;
  }
  for (int64_t n : {512, 1024, 2048}) {
    auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
    torch::mm_out(c, a, b);  // warm-up: thread pools, page faults
    std::vector<double> gflops, cpu_gflops;
    const int reps = n >= 2048 ? 5 : 9;
    const double flop = 2.0 * double(n) * n * n;
    for (int r = 0; r < reps; ++r) {
      const double c0 = process_cpu_seconds();
      auto t0 = Clock::now();
      torch::mm_out(c, a, b);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      gflops.push_back(flop / s / 1e9);
      cpu_gflops.push_back(flop / std::max(process_cpu_seconds() - c0, 1e-9) / 1e9);
    }
    best.gflops = std::max(best.gflops, median(gflops));
    best.cpu_gflops = std::max(best.cpu_gflops, median(cpu_gflops));
  }
  return best;
}

double measure_matmul_peak_gflops() { return measure_matmul_peak().gflops; }

int64_t model_flops_per_token(int64_t matmul_params, int64_t layers, int64_t seq_len, int64_t hidden) {
  return 6 * matmul_params + 12 * layers * seq_len * hidden;
}

double BenchResult::variant_ms(const std::string& name) const {
  for (auto& v : variants)
    if (v.name == name) return v.step_ms_median;
  return 0;
}

namespace {

// The model, optimizer, synthetic batch and SLM objectives every measurement uses.
struct BenchSetup {
  LlamaConfig config;
  LlamaForCausalLM model{nullptr};
  OptimOptions optim;
  std::unique_ptr<MasterWeights> master;
  std::unique_ptr<torch::optim::AdamW> opt;
  std::vector<Batch> micro;
  std::unique_ptr<SlmObjective> offline, online;

  BenchSetup(const BenchOptions& o, bool with_online) {
    torch::manual_seed(o.seed);
    config = preset(o.preset);
    if (o.vocab_size > 0) config.vocab_size = o.vocab_size;
    config.max_position_embeddings = std::max(config.max_position_embeddings, o.seq_len);
    model = LlamaForCausalLM(config);
    model->to(o.compute.device);
    if (o.master_weights) master = std::make_unique<MasterWeights>(model);
    opt = make_optimizer(trained_tensors(model, master.get()), optim);
    // Synthetic tokens: throughput does not depend on their values. Each row is a window of a
    // synthetic shard so offline scores can be looked up as in training.
    Batch b;
    auto ids = torch::randint(config.vocab_size, {o.micro_batch, o.seq_len + 1}, torch::kLong);
    b.inputs = ids.slice(1, 0, o.seq_len).contiguous();
    b.targets = ids.slice(1, 1, o.seq_len + 1).contiguous();
    for (int64_t i = 0; i < o.micro_batch; ++i) b.windows.push_back({0, uint64_t(i * o.seq_len)});
    micro = {b.to(o.compute.device)};
    if (!o.slm) return;
    SelectionOptions sel;
    sel.ratio = o.ratio;
    auto scores = torch::rand({o.micro_batch * o.seq_len + 1}) * 5;
    std::vector<std::vector<float>> shard{std::vector<float>(scores.data_ptr<float>(), scores.data_ptr<float>() + scores.numel())};
    offline = std::make_unique<SlmObjective>(sel, offline_reference(ScoreSet(shard), o.seq_len), o.seed);
    if (!with_online) return;
    torch::manual_seed(o.seed + 1);
    LlamaForCausalLM ref(config);
    prepare_for_inference(*ref, o.compute);  // as `rho train --ref-model` runs it
    MeasureOptions measure;  // the run's head and compute, as `rho train` gives them
    measure.compute = o.compute;
    measure.head = o.head;
    online = std::make_unique<SlmObjective>(sel, online_reference(ref, measure), o.seed);
  }

  void step(SlmObjective* slm, const HeadOptions& head, int64_t i, const Compute& c) {
    train_step(model, *opt, micro, optim.lr, optim.grad_clip, {slm, i, head, c.bf16(), nullptr, nullptr, nullptr, master.get()});
  }
};

// --profile: `steps` more steps of each variant under the profiler; its trace and table in `dir`.
std::vector<std::pair<std::string, std::string>> profile_variants(const std::vector<std::string>& names,
                                                                  const std::function<void(size_t, int64_t)>& run,
                                                                  int64_t first_step, int64_t steps,
                                                                  const torch::Device& device, const std::string& dir) {
  make_dirs(dir);
  std::vector<std::pair<std::string, std::string>> tables;
  for (size_t v = 0; v < names.size(); ++v) {
    sync(device);
    StepProfiler profiler(device.is_cuda());
    const auto t0 = Clock::now();
    for (int64_t k = 0; k < steps; ++k) run(v, first_step + k);
    sync(device);
    const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    bool kineto = false;
    const auto events = profiler.stop(dir + "/" + names[v] + ".kineto.json", &kineto);
    write_chrome_trace(dir + "/" + names[v] + ".trace.json", events);
    const std::string table = profile_table(events, wall_ms, steps) + "trace: " + dir + "/" + names[v] + ".trace.json" +
                              (kineto ? " (and Kineto's own: " + names[v] + ".kineto.json)" : "") + "\n";
    write_file_atomic(dir + "/" + names[v] + ".txt", table);
    tables.emplace_back(names[v], table);
  }
  return tables;
}

}  // namespace

MemoryProbe run_memory_probe(const BenchOptions& o) {
  BenchSetup b(o, /*with_online=*/false);
  MemoryProbe m;
  m.rss_before_bytes = current_rss_bytes();
  for (int64_t i = 0; i < o.steps; ++i) b.step(o.slm ? b.offline.get() : nullptr, o.head, i, o.compute);
  m.peak_rss_bytes = peak_rss_bytes();
  return m;
}

BenchResult run_bench(const BenchOptions& o) {
  BenchResult r;
  const auto peak = measure_matmul_peak(o.compute);
  r.peak_gflops = peak.gflops;
  r.peak_cpu_gflops = peak.cpu_gflops;
  BenchSetup b(o, o.slm && o.online);
  r.params = b.config.num_params();
  r.flops_per_token = double(model_flops_per_token(b.config.num_matmul_params(), b.config.num_hidden_layers,
                                                   o.seq_len, b.config.hidden_size));

  // Variants run in interleaved rounds (CLM, SLM offline, SLM online, CLM, ...) so that drift
  // in the machine's speed hits them alike; each figure is the median of its own steps.
  struct Variant {
    std::string name;
    SlmObjective* slm;
    HeadOptions head;
  };
  HeadOptions plain = o.head;
  plain.fused = false;
  std::vector<Variant> variants{{"clm", nullptr, o.head}};
  if (o.slm) variants.push_back({"slm-offline", b.offline.get(), o.head});
  if (o.slm && o.online) variants.push_back({"slm-online", b.online.get(), o.head});
  if (o.compare_plain) {
    variants.push_back({"clm-plain", nullptr, plain});
    if (o.slm) variants.push_back({"slm-offline-plain", b.offline.get(), plain});
  }
  // `rho score`'s forward: the path measure/token_losses.h runs, on a copy prepared as scoring does.
  LlamaForCausalLM scorer{nullptr};
  MeasureOptions eval;
  if (o.score) {
    scorer = LlamaForCausalLM(b.config);
    prepare_for_inference(*scorer, o.compute);
    eval.batch = o.micro_batch;
    eval.compute = o.compute;
    variants.push_back({"score", nullptr, o.head});
  }
  auto run = [&](const Variant& v, int64_t i) {
    if (v.name == "score") batch_losses(scorer, b.micro[0].inputs, b.micro[0].targets, eval);
    else b.step(v.slm, v.head, i, o.compute);
  };
  std::vector<std::vector<double>> step_s(variants.size()), cpu_s(variants.size());
  std::vector<int64_t> peak_bytes(variants.size(), -1);
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    for (size_t v = 0; v < variants.size(); ++v) {
      sync(o.compute.device);
      device_peak_bytes(o.compute.device, /*reset=*/true);
      const double c0 = process_cpu_seconds();
      auto t0 = Clock::now();
      run(variants[v], i);
      sync(o.compute.device);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      peak_bytes[v] = std::max(peak_bytes[v], device_peak_bytes(o.compute.device, /*reset=*/false));
      if (i >= o.warmup) {
        step_s[v].push_back(s);
        cpu_s[v].push_back(process_cpu_seconds() - c0);
      }
    }
  }
  for (size_t v = 0; v < variants.size(); ++v)
    r.variants.push_back({variants[v].name, median(step_s[v]) * 1e3, median(cpu_s[v]) * 1e3, peak_bytes[v]});
  if (!o.profile_dir.empty()) {
    std::vector<std::string> names;
    for (const auto& v : variants) names.push_back(v.name);
    r.profiles = profile_variants(names, [&](size_t v, int64_t i) { run(variants[v], i); }, o.warmup + o.steps,
                                  o.profile_steps, o.compute.device, o.profile_dir);
  }
  r.step_ms_median = r.variants[0].step_ms_median;
  r.tokens_per_s = double(o.micro_batch * o.seq_len) / (r.step_ms_median / 1e3);
  r.mfu = r.tokens_per_s * r.flops_per_token / (r.peak_gflops * 1e9);
  const double step_flop = double(o.micro_batch * o.seq_len) * r.flops_per_token;
  r.mfu_cpu = r.peak_cpu_gflops > 0 ? step_flop / (r.variants[0].cpu_ms_median / 1e3) / (r.peak_cpu_gflops * 1e9) : 0;
  r.peak_rss_bytes = peak_rss_bytes();
  return r;
}

}  // namespace rho
