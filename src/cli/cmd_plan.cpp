// rho plan: memory per GPU for a training run under each --shard, and whether it fits
// (train/memory_plan.h says what is counted; docs/data-parallel.md shows Mistral-7B on 8 GPUs).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "model/config.h"
#include "train/memory_plan.h"

namespace rho::cli {
namespace {

struct PlanFlags {
  std::string model_dir, preset, ref_model, gpu_memory = "0", objective = "clm", ref = "offline", scope = "batch";
  std::string device = "cuda";
  int64_t gpus = 1, seq_len = 2048, batch = 1, grad_accum = 1, vocab = 0;
  double bucket_mb = 25;
  bool checkpointing = false, json = false;
};

const char* shard_name(ShardLevel s) {
  return s == ShardLevel::None ? "none" : s == ShardLevel::Optimizer ? "optimizer" : "gradients";
}

std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", double(bytes) / double(int64_t(1) << 30));
  return buf;
}

void run_plan(const PlanFlags& f) {
  if (f.model_dir.empty() == f.preset.empty()) fail("pass --model DIR or --preset NAME (one of them)");
  PlanInput in;
  in.model = f.model_dir.empty() ? preset(f.preset) : load_config(f.model_dir + "/config.json");
  if (f.vocab > 0) in.model.vocab_size = f.vocab;  // a preset trained on shards of another vocabulary
  in.reference = f.ref_model.empty() ? in.model : load_config(f.ref_model + "/config.json");
  in.ranks = f.gpus;
  in.seq_len = f.seq_len;
  in.micro_batch = f.batch;
  in.grad_accum = f.grad_accum;
  in.memory_bytes = parse_size("--gpu-memory", f.gpu_memory);
  in.slm = f.objective == "slm";
  if (!in.slm && (f.ref != "offline" || !f.ref_model.empty()))
    fail("--ref and --ref-model apply to --objective slm only");
  in.online_reference = in.slm && f.ref == "online";
  in.graphs_per_step = in.slm && (f.scope == "batch" || f.scope == "stream") ? f.grad_accum : 1;
  in.activation_checkpointing = f.checkpointing;
  in.device = f.device;
  in.bucket_bytes = int64_t(f.bucket_mb * (1 << 20));
  const auto rows = plan_memory(in);
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows)
      out.push_back({{"shard", shard_name(r.shard)}, {"weights", r.weights}, {"gradients", r.gradients},
                     {"optimizer", r.optimizer}, {"activations", r.activations}, {"reference", r.reference},
                     {"total", r.total()}});
    std::printf("%s\n", out.dump(1).c_str());
    return;
  }
  std::printf("%s: %.3gB parameters; %lld %s%s; micro-batch %lld x %lld tokens; %s%s%s\n",
              f.model_dir.empty() ? f.preset.c_str() : f.model_dir.c_str(), double(in.model.num_params()) / 1e9,
              (long long)f.gpus, f.device == "cuda" ? "GPU(s)" : "process(es)",
              in.memory_bytes ? (" of " + gib(in.memory_bytes) + " GiB").c_str() : "", (long long)f.batch,
              (long long)f.seq_len, in.slm ? (in.online_reference ? "SLM, online reference" : "SLM, offline scores") : "CLM",
              in.graphs_per_step > 1 ? (", " + std::to_string(in.graphs_per_step) + " micro-batch graphs kept").c_str() : "",
              f.checkpointing ? ", activation checkpointing" : "");
  std::printf("GiB per %-9s %8s %10s %10s %12s %10s %8s  fits\n", f.device == "cuda" ? "GPU:" : "process:", "weights",
              "gradients", "optimizer", "activations", "reference", "total");
  for (const auto& r : rows) {
    std::string verdict = "-";
    if (in.memory_bytes) verdict = r.total() <= in.memory_bytes ? "yes" : "no (" + gib(r.total() - in.memory_bytes) + " over)";
    std::printf("--shard %-9s %8s %10s %10s %12s %10s %8s  %s\n", shard_name(r.shard), gib(r.weights).c_str(),
                gib(r.gradients).c_str(), gib(r.optimizer).c_str(), gib(r.activations).c_str(), gib(r.reference).c_str(),
                gib(r.total()).c_str(), verdict.c_str());
  }
  std::printf("(CUDA allocator fragmentation and the CUDA context, about 0.5-1 GiB, come on top.)\n");
}

}  // namespace

void register_plan(CLI::App& app) {
  auto* sub = app.add_subcommand("plan", "Memory per GPU for a training run under each --shard, and whether it fits (docs/data-parallel.md)");
  auto f = std::make_shared<PlanFlags>();
  sub->add_option("--model", f->model_dir, "Model directory (its config.json)");
  sub->add_option("--preset", f->preset, "Model shape preset")->check(CLI::IsMember(preset_names()));
  sub->add_option("--vocab", f->vocab, "Vocabulary size (0: the model's; training a preset takes the shards')")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  sub->add_option("--gpus", f->gpus, "Data-parallel ranks (GPUs)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--gpu-memory", f->gpu_memory, "Memory of one GPU, e.g. 80GiB (0: no verdict)");
  sub->add_option("--seq-len", f->seq_len, "Tokens per sequence (T)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", f->batch, "Sequences per micro-batch (B)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--grad-accum", f->grad_accum, "Micro-batches per step")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--objective", f->objective, "clm or slm")->check(CLI::IsMember({"clm", "slm"}));
  sub->add_option("--selection-scope", f->scope, "SLM: sequence, micro-batch, batch or stream")
      ->check(CLI::IsMember({"sequence", "micro-batch", "batch", "stream"}));
  sub->add_option("--ref", f->ref, "SLM: online (a reference model runs in each step) or offline (score files)")
      ->check(CLI::IsMember({"online", "offline"}));
  sub->add_option("--ref-model", f->ref_model, "SLM online: the reference's model directory (default: the model's shape)");
  sub->add_flag("--activation-checkpointing", f->checkpointing, "Recompute each layer in backward");
  sub->add_option("--device", f->device, "cuda (bf16, fused attention) or cpu (fp32)")->check(CLI::IsMember({"cuda", "cpu"}));
  sub->add_option("--bucket-mb", f->bucket_mb, "Gradient bucket size in MiB (train's --bucket-mb)")->check(CLI::Range(0.001, 1e6));
  sub->add_flag("--json", f->json, "One JSON object per --shard, in bytes");
  sub->callback([f] { run_plan(*f); });
}

}  // namespace rho::cli
