#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "dist/distributed.h"
#include "dist/grad_reducer.h"
#include "dist/sharded_optimizer.h"
#include "model/model_use.h"
#include "model/compute.h"
#include "model/io.h"
#include "train/checkpoint.h"
#include "train/guard.h"
#include "train/master_weights.h"
#include "train/schedule.h"
#include "train/step_log.h"
#include "train/validator.h"

namespace rho {
namespace {

// The shards' tokenizer as the run's model directories carry it: its files from the copy rho
// tokenize left beside the shards, else from the --init-from directory when that carries the same
// tokenizer. With neither, only the fingerprint is recorded, and rank 0 says so.
TokenizerId carried_tokenizer(const PackedDataset& data, const TokenizerId& init_from, int rank) {
  TokenizerId tok = data.tokenizer();
  std::vector<std::string> paths;
  for (const auto& s : data.shards()) paths.push_back(s->path());
  tok.files = tokenizer_beside(paths, tok.fingerprint);
  if (!tok.files && init_from.files && init_from.files->fingerprint == tok.fingerprint) tok.files = init_from.files;
  if (!tok.files && rank == 0) {
    const std::string parent = std::filesystem::path(paths.front()).parent_path().string();
    std::fprintf(stderr, "rho: note: no copy of the shards' tokenizer at %s (shards tokenized before rho kept one), so "
                         "this run's model directories record its fingerprint only; rho export --tokenizer FILE adds it\n",
                 tokenizer_copy_dir(parent.empty() ? "." : parent, tok.fingerprint).c_str());
  }
  return tok;
}

// The model a run starts from: a model directory (continual pretraining), or a fresh preset sized
// to the shards' vocabulary, on the run's device. Either way it carries the shards' tokenizer.
LlamaForCausalLM build_model(const TrainOptions& o, const PackedDataset& data, const Compute& compute,
                             Distributed* dist) {
  torch::manual_seed(o.seed);
  const TokenizerId shards = data.tokenizer();
  LlamaForCausalLM model{nullptr};
  if (!o.init_from.empty()) {
    model = load_model_for(o.init_from, {"--init-from model", shards, o.seq_len, o.allow_unrecorded_tokenizer});
  } else {
    auto config = preset(o.preset);
    config.vocab_size = shards.vocab_size;
    config.max_position_embeddings = std::max(config.max_position_embeddings, o.seq_len);
    model = LlamaForCausalLM(config);
  }
  model->tokenizer = carried_tokenizer(data, model->tokenizer, o.rank);
  model->model->checkpoint_layers = o.checkpoint_layers;
  model->to(compute.device);  // fp32 master weights whatever the precision
  // Every rank starts from rank 0's weights (identical by seed already; this makes it certain).
  if (dist) {
    torch::NoGradGuard no_grad;
    dist->broadcast(model->parameters(), 0);
  }
  return model;
}

// SLM's objective with its reference: offline score files, or a reference model run online.
std::unique_ptr<SlmObjective> build_objective(const TrainOptions& o, const PackedDataset& data, const Compute& compute,
                                              Distributed* dist) {
  if (o.objective != "slm") return nullptr;
  std::unique_ptr<Reference> ref;
  if (!o.selection.ref_scores.empty()) {
    const std::string& ref_tok = o.selection.ref_tokenizer;  // scores of a --cross-tokenizer reference
    ref = offline_reference(data, o.selection.ref_scores, ref_tok.empty() ? 0 : read_tokenizer_files(ref_tok)->fingerprint);
  } else if (!o.selection.ref_model.empty()) {
    auto model = load_model_for(o.selection.ref_model,
                                {"reference model", data.tokenizer(), o.seq_len, o.allow_unrecorded_tokenizer});
    prepare_for_inference(*model, compute);  // forward only: bf16 weights in bf16 runs
    MeasureOptions measure;
    measure.head = o.head;  // --plain-head / --head-chunk hold for the reference too
    measure.compute = compute;
    ref = online_reference(std::move(model), measure);
  }
  SelectionOptions selection = o.selection;
  if (selection.stream_window == 0) selection.stream_window = 16 * o.micro_batch * o.seq_len * o.grad_accum * o.world;
  auto slm = std::make_unique<SlmObjective>(selection, std::move(ref), o.seed);
  slm->set_distributed(dist);
  return slm;
}

// The checkpoint this run continues from, or nullopt for a new run. Checked before anything is
// loaded: an existing run needs --resume, and a resume must keep the method.
std::optional<std::string> resume_point(const TrainOptions& o) {
  const auto latest = latest_checkpoint(o.out_dir);
  if (latest && !o.resume)
    fail_file(o.out_dir, "already holds checkpoints; pass --resume to continue it or choose another --out");
  if (latest) {
    const std::string saved = *latest + "/trainer_state.json";
    o.check_resume(parse_trainer_state(read_file(saved), saved).run, *latest);
  }
  return latest;
}

// A new run's state, or the checkpoint's (model, optimizer and RNG restored) when resuming.
TrainerState start_or_resume(const TrainOptions& o, const std::optional<std::string>& from, LlamaForCausalLM& model,
                             torch::optim::Optimizer& opt, ShardedAdamW* sharded, MasterWeights* master) {
  TrainerState state;
  if (from) {
    MasterWeights::Exposed masters(master);  // the checkpoint's fp32 weights load into the masters
    state = load_checkpoint(*from, model, opt, sharded);
    if (o.rank == 0) std::fprintf(stderr, "resuming from %s (step %lld)\n", from->c_str(), (long long)state.step);
  }
  state.run = o.to_json();
  make_dirs(o.out_dir);
  if (o.rank == 0) remove_stale_temps(o.out_dir);  // metrics or summary writes cut short by a kill
  return state;
}

// After the last step: the final model and summary.json (rank 0).
void finish(const TrainOptions& o, LlamaForCausalLM& model, MasterWeights* master, const TrainerState& state,
            TrainResult& r, Distributed* dist, const nlohmann::json& memory) {
  r.steps = state.step;
  r.bad_steps = state.bad_steps;
  r.tokens_seen = state.tokens_seen;
  r.tokens_trained = state.tokens_trained;
  if (o.rank != 0 || r.stopped_by) return;
  r.final_dir = o.out_dir + "/final";
  {
    MasterWeights::Exposed masters(master);  // the final model holds the fp32 masters
    save_model(r.final_dir, model);
  }
  remove_stale_temps(r.final_dir);
  nlohmann::json summary = {{"objective", o.objective}, {"steps", r.steps}, {"final_train_loss", r.final_train_loss},
                            {"tokens_seen", r.tokens_seen}, {"tokens_trained", r.tokens_trained},
                            {"seconds", r.seconds}, {"model", r.final_dir}};
  if (!std::isnan(r.final_val_loss)) summary["final_val_loss"] = r.final_val_loss;
  summary["memory_per_rank"] = memory;
  if (dist) {
    summary["world"] = dist->world();
    summary["comm_seconds"] = dist->comm_seconds();  // rank 0's time inside collectives
  }
  write_file_atomic(o.out_dir + "/summary.json", summary.dump(2) + "\n");
  std::fprintf(stderr, "done: %lld steps, %s tokens seen, %s trained on, in %s; model in %s\n", (long long)r.steps,
               format_count(double(r.tokens_seen)).c_str(), format_count(double(r.tokens_trained)).c_str(),
               format_duration(r.seconds).c_str(), r.final_dir.c_str());
}

// How the ranks combine gradients: none with one process; --shard's ZeRO AdamW (which then also
// steps); else an all-reduce while backward runs.
struct GradientPlan {
  std::unique_ptr<ShardedAdamW> sharded;
  std::unique_ptr<GradientReducer> reducer;
  GradientSync* sync() const { return sharded ? static_cast<GradientSync*>(sharded.get()) : reducer.get(); }
};
// `trained`: the tensors whose gradients are summed (the parameters, or --master-weights' masters,
// whose gradients arrive through their own hooks, so the all-reduce waits for backward's end).
GradientPlan plan_gradients(const TrainOptions& opts, LlamaForCausalLM& model, const std::vector<torch::Tensor>& trained,
                            Distributed* dist) {
  GradientPlan g;
  if (!dist || dist->world() < 2) return g;
  const int64_t bucket_bytes = std::max<int64_t>(1, int64_t(opts.bucket_mb * (1 << 20)));
  if (opts.shard == ShardLevel::None) {
    g.reducer = std::make_unique<GradientReducer>(*dist, trained, bucket_bytes);
    return g;
  }
  g.sharded = std::make_unique<ShardedAdamW>(*dist, named_params(*model), opts.optim, opts.shard, bucket_bytes);
  if (opts.rank == 0) {
    const auto m = g.sharded->memory();
    const std::string fallback = dist->collective_fallbacks();
    std::fprintf(stderr, "shard: %s over %lld processes: AdamW state %.1f MiB a rank (unsharded: %.1f MiB)%s%s\n",
                 opts.shard == ShardLevel::Optimizer ? "optimizer state (ZeRO-1)" : "optimizer state and gradients (ZeRO-2)",
                 (long long)dist->world(), double(m.optimizer) / (1 << 20), double(2 * m.weights) / (1 << 20),
                 fallback.empty() ? "" : "; ", fallback.c_str());
  }
  return g;
}

// Bytes per rank for summary.json: what the weights (with --master-weights' fp32 masters), the
// gradients at their peak and AdamW hold.
nlohmann::json memory_record(const GradientPlan& g, LlamaForCausalLM& model, const MasterWeights* master,
                             torch::optim::AdamW& opt) {
  TrainMemory m;
  if (g.sharded) {
    m = g.sharded->memory();
  } else {
    for (auto& p : model->parameters()) m.weights += p.numel() * int64_t(p.element_size());
    int64_t grads = m.weights;  // .grad in the parameters' dtype, or fp32 in the masters
    if (master) {
      m.weights += master->master_bytes();
      grads = master->master_bytes();
    }
    m.gradients_peak = grads + (g.reducer ? g.reducer->buffer_bytes() : 0);  // plus the all-reduce's buffers
    for (auto& [key, st] : opt.state()) {
      auto& s = static_cast<torch::optim::AdamWParamState&>(*st);
      m.optimizer += (s.exp_avg().numel() + s.exp_avg_sq().numel()) * int64_t(s.exp_avg().element_size());
    }
  }
  return {{"weights_bytes", m.weights}, {"gradients_peak_bytes", m.gradients_peak}, {"optimizer_bytes", m.optimizer}};
}

}  // namespace

TrainResult train(const TrainOptions& opts, Distributed* dist) {
  opts.validate();
  if (dist ? (dist->rank() != opts.rank || dist->world() != opts.world) : opts.world > 1)
    fail("internal: TrainOptions rank/world differ from the process group's");
  const auto t_start = std::chrono::steady_clock::now();
  const auto& o = opts.optim;
  const auto resume_from = resume_point(opts);
  const Compute compute = resolve_compute(opts.device, opts.precision);
  auto data = std::make_shared<const PackedDataset>(list_shards(opts.train_data), opts.seq_len);
  auto model = build_model(opts, *data, compute, dist);
  auto master = opts.master_fp32 ? std::make_unique<MasterWeights>(model) : nullptr;
  const auto trained = trained_tensors(model, master.get());
  auto optimizer = make_optimizer(trained, o);  // steps unless --shard's ZeRO AdamW does
  GradientPlan gradients = plan_gradients(opts, model, trained, dist);
  auto slm = build_objective(opts, *data, compute, dist);
  TrainerState state = start_or_resume(opts, resume_from, model, *optimizer, gradients.sharded.get(), master.get());
  const int64_t resumed_from = resume_from ? state.step : -1;
  if (slm) slm->set_stream_window(state.stream_window);
  Validator validator(opts, data->tokenizer(), compute, dist);
  StepLog log(opts, model->config, data->num_windows(), resumed_from, opts.rank == 0);
  CheckpointPolicy checkpoints(opts.out_dir, opts.ckpt_every, opts.keep_last, opts.rank == 0, resumed_from,
                               {gradients.sharded.get(), dist});
  DataLoader loader(data, opts.micro_batch, opts.seed, int(opts.rank), int(opts.world));
  loader.set_cursor(state.data_cursor);
  BadStepGuard bad_steps(opts.max_bad_steps, state.bad_steps);
  StopSignals signals;
  TrainResult result;
  model->train();
  while (state.step < o.max_steps && !(opts.stop_after > 0 && state.step >= opts.stop_after)) {
    if ((result.stopped_by = agreed_stop_signal(dist))) break;
    const double lr = lr_at(state.step, o.warmup_steps, o.max_steps, o.lr, o.min_lr);
    std::vector<Batch> micro;
    for (int64_t a = 0; a < opts.grad_accum; ++a) micro.push_back(loader.next().to(compute.device));
    SlmObjective* objective = slm && slm->active(state.step, o.max_steps) ? slm.get() : nullptr;
    const StepStats stats =
        train_step(model, *optimizer, micro, lr, o.grad_clip,
                   {objective, state.step, opts.head, compute.bf16(), dist, gradients.sync(), gradients.sharded.get(),
                    master.get()});
    // A skipped step still consumes its data and its place in the schedule (so a resumed run and
    // an uninterrupted one stay the same), but it trained on nothing.
    state.step += 1;
    bad_steps.record(state.step, stats.loss, stats.grad_norm);
    state.bad_steps = bad_steps.total();
    state.data_cursor = loader.cursor();
    state.tokens_seen += stats.tokens_seen;  // global batch (train_step sums over ranks)
    if (!stats.skipped) state.tokens_trained += stats.tokens_trained;
    result.final_train_loss = stats.loss;
    const bool last = state.step == o.max_steps || state.step == opts.stop_after;
    const auto val = validator.after_step(model, state.step, last);
    log.record(state, stats, lr, val, objective != nullptr, last);
    const bool checkpoint_due = checkpoints.due(state.step, last);
    if (slm && checkpoint_due) state.stream_window = slm->stream_window();
    MasterWeights::Exposed masters(checkpoint_due ? master.get() : nullptr);  // checkpoints hold the fp32 masters
    checkpoints.after_step(model, *optimizer, state, last);
  }
  if (result.stopped_by) {
    if (slm) state.stream_window = slm->stream_window();
    MasterWeights::Exposed masters(master.get());
    const std::string ckpt = checkpoints.on_stop(model, *optimizer, state);
    if (opts.rank == 0)
      std::fprintf(stderr, "stopped by %s after step %lld/%lld (checkpoint %s); continue with --resume\n",
                   StopSignals::name(result.stopped_by), (long long)state.step, (long long)o.max_steps, ckpt.c_str());
  }
  result.final_val_loss = validator.last();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  finish(opts, model, master.get(), state, result, dist, memory_record(gradients, model, master.get(), *optimizer));
  return result;
}

}  // namespace rho
