// `rho bench`: training throughput and model FLOPs utilisation (MFU) on this machine.
//
// MFU = achieved model FLOP/s / peak FLOP/s, where
//   model FLOPs per trained token = 6 * N + 12 * L * T * C       (PaLM, appendix B)
//   N = parameters that take part in matmuls (all but the input embedding lookup; the LM head
//       counts), 6N = forward (2N) + backward (4N) of the weight matmuls,
//   12 * L * T * C = attention scores QK^T and their use AV: 2 * 2 * T * C per token per layer
//       forward, times 3 with backward. Counted without the causal half-saving, as PaLM and
//       nanoGPT do, so the figures compare with theirs.
// Peak FLOP/s = the best median of square matmuls measured right before, on the same device and
// threads: the machine's practical peak, not a datasheet number. On the CPU fp32 matmuls of
// n = 512, 1024, 2048; on CUDA n = 8192 in the run's precision (bf16: what the GPU peer measures).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/compute.h"
#include "model/fused_head.h"

namespace rho {

struct BenchOptions {
  std::string preset = "debug";
  int64_t vocab_size = 0;  // 0: the preset's
  int64_t seq_len = 256;
  int64_t micro_batch = 8;
  int64_t steps = 10;      // timed steps (after `warmup` untimed ones)
  int64_t warmup = 2;
  uint64_t seed = 1;
  bool slm = false;     // also time SLM steps: offline scores, and an online reference forward
  bool online = true;   // with slm: include the online-reference variant
  double ratio = 0.6;
  HeadOptions head;         // the LM head of the main variants (fused by default)
  bool compare_plain = false;  // also time CLM (and SLM offline) with the plain head, interleaved
  bool score = false;       // also time `rho score`'s forward (a bf16-weight copy in bf16 runs)
  std::string profile_dir;   // non-empty: profile each variant's steps into it (bench/profile.h)
  int64_t profile_steps = 3;  // steps profiled per variant, after the timed ones
  bool master_weights = false;  // --master-weights fp32: bf16 parameters, fp32 masters (train/master_weights.h)
  Compute compute;
};

// One timed variant: its label and median step time.
struct BenchVariant {
  std::string name;  // "clm", "slm-offline", "slm-online", "clm-plain", "slm-offline-plain"
  double step_ms_median = 0;
  // The process's CPU time per step (all its threads), median: on a shared machine it moves far
  // less than wall time when other processes take the cores, so A/B ratios are steadier. With
  // one libtorch and one OpenBLAS thread it is the step's own compute time.
  double cpu_ms_median = 0;
  int64_t peak_device_bytes = -1;  // CUDA: most memory tensors held during one of its steps (-1: n/a)
};

struct BenchResult {
  double peak_gflops = 0;       // measured fp32 matmul peak
  double step_ms_median = 0;    // CLM with BenchOptions::head
  double tokens_per_s = 0;
  double flops_per_token = 0;
  double mfu = 0;               // 0..1
  // The same ratio in CPU time: model FLOPs per CPU-second of a CLM step over the matmul's.
  double peak_cpu_gflops = 0, mfu_cpu = 0;
  int64_t params = 0;
  int64_t peak_rss_bytes = 0;
  std::vector<BenchVariant> variants;  // every timed variant, "clm" first
  std::vector<std::pair<std::string, std::string>> profiles;  // with profile_dir: (variant, table)
  double variant_ms(const std::string& name) const;  // 0 if not timed
};

// Memory of one variant measured in a process of its own (the caller starts a fresh process
// per variant, since peak RSS never goes down): RSS before the first step, peak RSS after
// `steps` steps.
struct MemoryProbe {
  int64_t rss_before_bytes = 0, peak_rss_bytes = 0;
};
MemoryProbe run_memory_probe(const BenchOptions& o);

// The matmul peak by wall time and by the process's CPU time (FLOPs per CPU-second: what the
// cores do while they are ours, which another process on the machine disturbs far less).
struct MatmulPeak {
  double gflops = 0, cpu_gflops = 0;
};
MatmulPeak measure_matmul_peak(const Compute& compute = {});
double measure_matmul_peak_gflops();
int64_t model_flops_per_token(int64_t matmul_params, int64_t layers, int64_t seq_len, int64_t hidden);
BenchResult run_bench(const BenchOptions& o);

}  // namespace rho
