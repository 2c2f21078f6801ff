// Every `rho train` setting, described once (TrainOptions::describe): its flag, its key in a
// checkpoint's trainer_state.json "run", its help, its valid range, and whether a resumed run must
// keep it. The CLI flags (cli/cmd_train.cpp), validate(), to_json() and the resume check are all
// generated from that one description, so they cannot drift apart.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/bounds.h"
#include "common/described.h"
#include "model/config.h"
#include "model/run_options.h"
#include "selection/objective.h"

namespace rho {

struct OptimOptions {
  double lr = 3e-4;        // peak learning rate
  double min_lr = 3e-5;    // cosine floor
  int64_t warmup_steps = 10;
  int64_t max_steps = 100;
  double weight_decay = 0.1;  // applied to matrices only, not to norm weights
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;  // max global L2 norm; 0 disables
};

// Data parallelism's ZeRO stages (dist/sharded_optimizer.h): AdamW's moments split across the
// processes (Optimizer, stage 1), and the gradients too (Gradients, stage 2). How a run is laid
// out, not what it computes: a resume may change it, and the world size with it.
enum class ShardLevel { None, Optimizer, Gradients };

// The run settings shared with every command (device, precision, threads, head,
// allow_unrecorded_tokenizer) come from RunOptions, described inside this table.
struct TrainOptions : RunOptions {
  std::string preset = "debug";  // model shape when starting from scratch
  std::string init_from;         // model directory to continue from (continual pretraining)
  std::vector<std::string> train_data, val_data;  // shard files or directories
  std::string objective = "clm";  // "clm" or "slm"
  SelectionOptions selection;      // with objective "slm"
  int64_t seq_len = 256;
  int64_t micro_batch = 8;
  int64_t grad_accum = 1;
  uint64_t seed = 1;
  OptimOptions optim;
  int64_t val_every = 50;    // steps; 0 = only at the end
  int64_t val_batches = 8;   // micro-batches of the validation set, in order
  int64_t log_every = 10;
  int64_t ckpt_every = 0;    // steps; 0 = only at the end
  int64_t keep_last = 2;
  std::string out_dir;       // checkpoints/, metrics.jsonl, final/
  bool resume = false;
  int64_t stop_after = 0;    // stop (with a checkpoint) once this step is reached; 0 = run to the end
  int64_t max_bad_steps = 5;  // non-finite loss/gradient steps in a row before the run stops
  int blas_threads = 0;            // OpenBLAS threads (0: OPENBLAS_NUM_THREADS, else every core)
  bool checkpoint_layers = false;  // activation checkpointing (model/llama.h)
  int64_t rank = 0, world = 1;              // data parallel: from the launcher, not from flags
  ShardLevel shard = ShardLevel::None;
  double bucket_mb = 25;  // gradient buckets of data parallelism (all-reduce or reduce-scatter)
  bool master_fp32 = false;  // --master-weights fp32: bf16 parameters, fp32 masters in AdamW (train/master_weights.h)

  // Calls `v` once per setting, in --help order (the visitor protocol: common/described.h).
  template <class V>
  void describe(V& v);

  nlohmann::json to_json() const;
  // UserError with the flag and its valid range for a bad setting, or a bad combination.
  void validate() const;
  void check_selection() const;  // part of validate(): SLM's settings against the objective
  // UserError naming `where` (a checkpoint), the flag and both values when `saved` (that
  // checkpoint's "run") differs from these settings in one a resume must keep.
  void check_resume(const nlohmann::json& saved, const std::string& where) const;
};

template <class V>
void TrainOptions::describe(V& v) {
  using R = OnResume;
  const int64_t big = int64_t(1) << 40;
  // What is trained, on what.
  v.texts("--data", "train_data", train_data, true, R::Same, "Training shard files or directories");
  v.texts("--val-data", "val_data", val_data, false, R::MayChange, "Validation shard files or directories");
  v.text("--out", nullptr, out_dir, true, R::MayChange, "Run directory (checkpoints, metrics.jsonl, final model)");
  std::vector<std::pair<std::string, std::string>> presets;
  for (const auto& p : preset_names()) presets.emplace_back(p, p);
  v.choice("--preset", "preset", preset, presets, R::Same, "Model shape when starting from scratch");
  v.text("--init-from", "init_from", init_from, false, R::Same, "Model directory to continue training from");
  // The objective and SLM's selection.
  v.choice("--objective", "objective", objective, {{"clm", "clm"}, {"slm", "slm"}}, R::Same,
           "clm (every token) or slm (Selective Language Modeling)");
  v.real("--ratio", "ratio", selection.ratio, {0.0, 1.0, true}, R::Same, "SLM: fraction of tokens kept (k%)");
  v.choice("--selection-scope", "scope", selection.scope,
           {{"sequence", SelectionScope::Sequence}, {"micro-batch", SelectionScope::MicroBatch}, {"batch", SelectionScope::Batch},
            {"stream", SelectionScope::Stream}},
           R::Same, "SLM: where top-k% is taken (stream: against the k-th largest of the last --stream-window scores)");
  v.integer("--stream-window", "stream_window", selection.stream_window, int64_t(0), int64_t(1) << 30, R::Same,
            "SLM --selection-scope stream: M, how many of the latest token scores the running threshold sees "
            "(at least one step's tokens; 0: 16 steps' worth)");
  v.choice("--score", "score", selection.score,
           {{"excess", ScoreFunction::ExcessLoss}, {"ref-loss", ScoreFunction::ReferenceLoss},
            {"current-loss", ScoreFunction::CurrentLoss}, {"random", ScoreFunction::Random}},
           R::Same, "SLM: token score");
  v.choice("--weighting", "weighting", selection.weighting,
           {{"topk", TokenWeighting::TopK}, {"softmax", TokenWeighting::Softmax}}, R::Same,
           "SLM: train on the top k% (topk) or on every token weighted by softmax(score / T) (softmax)");
  v.real("--temperature", "temperature", selection.temperature, {0.0, 1e6, true}, R::Same,
         "SLM --weighting softmax: the softmax's temperature T");
  v.text("--ref-scores", "ref_scores", selection.ref_scores, false, R::Same, "SLM: directory of score files from `rho score`");
  v.text("--ref-model", "ref_model", selection.ref_model, false, R::Same, "SLM: reference model run inside each step (online)");
  v.text("--ref-tokenizer", "ref_tokenizer", selection.ref_tokenizer, false, R::Same, "SLM --ref-scores made with --cross-tokenizer: the reference's tokenizer");
  v.real("--slm-start", "slm_start", selection.start_fraction, {0.0, 0.999999}, R::Same,
         "SLM: plain CLM for this fraction of steps first");
  // Batch shape.
  v.integer("--seq-len", "seq_len", seq_len, int64_t(1), int64_t(1) << 20, R::Same, "Tokens per sequence (T)");
  v.integer("--batch", "micro_batch", micro_batch, int64_t(1), int64_t(1) << 20, R::Same, "Sequences per micro-batch (B)");
  // A resume may split the same global batch differently: world x --grad-accum is kept
  // (check_resume), each alone may change.
  v.integer("--grad-accum", "grad_accum", grad_accum, int64_t(1), int64_t(1) << 20, R::MayChange,
            "Micro-batches per optimizer step (a resume keeps processes x this)");
  v.integer(nullptr, "world", world, int64_t(1), int64_t(1) << 20, R::MayChange, "Data-parallel processes");
  v.choice("--shard", "shard", shard,
           {{"none", ShardLevel::None}, {"optimizer", ShardLevel::Optimizer}, {"gradients", ShardLevel::Gradients}},
           R::MayChange,
           "Data parallel: split AdamW's state across the processes (optimizer, ZeRO-1) and the gradients "
           "too (gradients, ZeRO-2); needs several processes");
  v.real("--bucket-mb", "bucket_mb", bucket_mb, {0.0, 1e6, true}, R::MayChange,
         "Data parallel: MiB of gradients reduced at once (smaller buckets: less held in flight with "
         "--shard gradients, more collectives)");
  v.integer("--seed", "seed", seed, uint64_t(0), ~uint64_t(0), R::Same, "Seed for initialisation and data order");
  // Optimizer and schedule.
  v.integer("--steps", "max_steps", optim.max_steps, int64_t(1), big, R::MayChange, "Optimizer steps");
  v.integer("--warmup", "warmup_steps", optim.warmup_steps, int64_t(0), big, R::Same, "Linear warmup steps");
  v.real("--lr", "lr", optim.lr, {0.0, 1.0, true}, R::Same, "Peak learning rate");
  v.real("--min-lr", "min_lr", optim.min_lr, {0.0, 1.0}, R::Same, "Final learning rate of the cosine schedule (<= --lr)");
  v.real("--weight-decay", "weight_decay", optim.weight_decay, {0.0, 10.0}, R::Same, "AdamW weight decay (matrices only)");
  v.real("--beta1", "beta1", optim.beta1, {0.0, 1.0}, R::Same, "AdamW beta1");
  v.real("--beta2", "beta2", optim.beta2, {0.0, 1.0}, R::Same, "AdamW beta2");
  v.real("--adam-eps", "eps", optim.eps, {0.0, 1.0, true}, R::Same, "AdamW epsilon");
  v.real("--grad-clip", "grad_clip", optim.grad_clip, {0.0, 1e9}, R::Same, "Max gradient L2 norm, 0 disables");
  // The loop's components and their intervals.
  v.integer("--val-every", "val_every", val_every, int64_t(0), big, R::MayChange, "Validate every N steps (0: at the end only)");
  v.integer("--val-batches", "val_batches", val_batches, int64_t(1), int64_t(1) << 30, R::MayChange, "Micro-batches per validation");
  v.integer("--log-every", "log_every", log_every, int64_t(1), big, R::MayChange, "Progress line every N steps");
  v.integer("--ckpt-every", "ckpt_every", ckpt_every, int64_t(0), big, R::MayChange, "Checkpoint every N steps (0: at the end only)");
  v.integer("--keep-last", "keep_last", keep_last, int64_t(0), int64_t(1) << 20, R::MayChange, "Checkpoints kept (0: all)");
  v.flag("--resume", nullptr, resume, true, R::MayChange, "Continue from the run directory's latest checkpoint");
  v.integer("--stop-after", nullptr, stop_after, int64_t(0), big, R::MayChange,
            "Stop with a checkpoint after this step (the schedule still spans --steps)");
  v.integer("--max-bad-steps", "max_bad_steps", max_bad_steps, int64_t(1), big, R::MayChange,
            "Stop after this many non-finite loss/gradient steps in a row (each is skipped)");
  // How it runs.
  RunOptions::describe(v);  // --device, --precision, --plain-head, --head-chunk, --threads, --allow-unrecorded-tokenizer
  v.choice("--master-weights", "master_weights", master_fp32, {{"none", false}, {"fp32", true}}, R::MayChange,
           "bf16 runs: none (fp32 parameters, autocast casts them to bf16 in each forward) or fp32 (bf16 "
           "parameters, fp32 master copies in AdamW; checkpoints hold the masters either way)");
  v.flag("--activation-checkpointing", "activation_checkpointing", checkpoint_layers, true, R::MayChange,
         "Recompute each layer in backward instead of keeping its activations (for models that do not fit)");
  v.integer("--blas-threads", nullptr, blas_threads, 0, 1024, R::MayChange,
            "OpenBLAS threads (0: OPENBLAS_NUM_THREADS, else every core)");
}

}  // namespace rho
