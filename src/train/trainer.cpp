#include "train/trainer.h"

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "compat/torch_compat.h"
#include "dist/distributed.h"
#include "model/io.h"
#include "train/checkpoint.h"
#include "train/guard.h"
#include "train/schedule.h"

namespace rho {

using Clock = std::chrono::steady_clock;
static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

nlohmann::json TrainOptions::to_json() const {
  return {{"preset", preset}, {"init_from", init_from}, {"train_data", train_data},
          {"val_data", val_data}, {"seq_len", seq_len}, {"micro_batch", micro_batch},
          {"grad_accum", grad_accum}, {"seed", seed}, {"world", world},
          {"lr", optim.lr}, {"min_lr", optim.min_lr}, {"warmup_steps", optim.warmup_steps},
          {"max_steps", optim.max_steps}, {"weight_decay", optim.weight_decay},
          {"beta1", optim.beta1}, {"beta2", optim.beta2}, {"grad_clip", optim.grad_clip},
          {"objective", objective}, {"ratio", selection.ratio}, {"scope", rho::to_string(selection.scope)},
          {"score", rho::to_string(selection.score)}, {"ref_scores", selection.ref_scores},
          {"ref_model", selection.ref_model}, {"slm_start", selection.start_fraction},
          {"head", head.fused ? "fused" : "plain"}, {"head_chunk", head.chunk_tokens}};
}

void TrainOptions::validate() const {
  auto need = [](bool ok, const std::string& msg) { if (!ok) fail(msg); };
  need(!train_data.empty(), "--data: at least one shard file or directory is needed");
  need(!out_dir.empty(), "--out: an output directory is needed");
  need(seq_len >= 1 && seq_len <= 1 << 20, "--seq-len must be in [1, 1048576]");
  need(micro_batch >= 1, "--batch must be >= 1");
  need(grad_accum >= 1, "--grad-accum must be >= 1");
  need(optim.max_steps >= 1, "--steps must be >= 1");
  need(optim.warmup_steps >= 0, "--warmup must be >= 0");
  need(optim.lr > 0 && optim.lr < 1, "--lr must be in (0, 1)");
  need(optim.min_lr >= 0 && optim.min_lr <= optim.lr, "--min-lr must be in [0, lr]");
  need(optim.weight_decay >= 0, "--weight-decay must be >= 0");
  need(optim.grad_clip >= 0, "--grad-clip must be >= 0 (0 disables)");
  need(objective == "clm" || objective == "slm", "--objective must be clm or slm, got '" + objective + "'");
  need(objective == "clm" || (selection.ratio > 0 && selection.ratio <= 1), "--ratio must be in (0, 1]");
  need(selection.ref_scores.empty() || selection.ref_model.empty(), "pass --ref-scores or --ref-model, not both");
  need(stop_after >= 0, "--stop-after must be >= 0");
  need(max_bad_steps >= 1, "--max-bad-steps must be >= 1");
  need(world >= 1 && rank >= 0 && rank < world, "rank must be in [0, world)");
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(LlamaForCausalLM& model, const OptimOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(o.weight_decay));
  groups.emplace_back(no_decay, opts(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(o.lr));
}

namespace {

// Forward pass of one micro-batch: per-token losses (B, T), graph kept for backward.
torch::Tensor forward_losses(LlamaForCausalLM& model, const Batch& b, const HeadOptions& head) {
  return model_token_losses(model, b.inputs, b.targets, head);
}

void slm_backward(LlamaForCausalLM& model, const std::vector<Batch>& micro, SlmObjective& slm, int64_t step,
                  const HeadOptions& head, int64_t world, StepStats& s) {
  const int64_t A = int64_t(micro.size());
  // The step's loss stays on the losses' device until the end: one host transfer per step.
  torch::Tensor loss_sum;
  auto account = [&](const torch::Tensor& losses) {
    auto m = losses.detach().mean().to(torch::kDouble);
    loss_sum = loss_sum.defined() ? loss_sum + m : m;
    s.tokens_seen += losses.numel();
  };
  if (slm.options().scope == SelectionScope::Batch) {
    // The threshold needs every micro-batch's scores: run all forwards, select, then one backward.
    std::vector<torch::Tensor> losses, detached;
    std::vector<const Batch*> batches;
    for (const auto& b : micro) {
      losses.push_back(forward_losses(model, b, head));
      detached.push_back(losses.back().detach());
      batches.push_back(&b);
      account(losses.back());
    }
    auto w = slm.weights(detached, batches, step, 0, A * world, s.selection);
    torch::Tensor total;
    for (int64_t i = 0; i < A; ++i) {
      auto part = (losses[i] * w[i]).sum();
      total = total.defined() ? total + part : part;
    }
    total.backward();
  } else {
    for (int64_t i = 0; i < A; ++i) {
      auto losses = forward_losses(model, micro[i], head);
      account(losses);
      auto w = slm.weights({losses.detach()}, {&micro[i]}, step, i, A * world, s.selection);
      (losses * w[0]).sum().backward();
    }
  }
  s.loss = loss_sum.item<double>() / double(A);
  s.tokens_trained = s.selection.selected;
}

// The step's statistics over every rank: sums, and the mean loss.
void reduce_stats(Distributed& dist, StepStats& s) {
  auto& sel = s.selection;
  auto t = torch::tensor({s.loss, double(s.tokens_seen), double(s.tokens_trained), double(sel.candidates),
                          double(sel.selected), sel.loss_selected_sum, sel.loss_unselected_sum,
                          sel.selected_checksum},
                         torch::kDouble);
  dist.all_reduce_sum({t});
  auto v = t.accessor<double, 1>();
  s.loss = v[0] / double(dist.world());
  s.tokens_seen = int64_t(v[1]);
  s.tokens_trained = int64_t(v[2]);
  sel.candidates = int64_t(v[3]);
  sel.selected = int64_t(v[4]);
  sel.loss_selected_sum = v[5];
  sel.loss_unselected_sum = v[6];
  sel.selected_checksum = v[7];
}

}  // namespace

StepStats accumulate_gradients(LlamaForCausalLM& model, const std::vector<Batch>& micro_batches,
                               SlmObjective* slm, int64_t step, const HeadOptions& head, int64_t world) {
  StepStats s;
  if (slm) {
    slm_backward(model, micro_batches, *slm, step, head, world, s);
  } else {
    const double n = double(micro_batches.size());
    for (const auto& b : micro_batches) {
      auto loss = forward_losses(model, b, head).mean();
      (loss / (n * double(world))).backward();
      s.loss += loss.item<double>() / n;
      s.tokens_seen += b.targets.numel();
    }
    s.tokens_trained = s.tokens_seen;
  }
  return s;
}

StepStats train_step(LlamaForCausalLM& model, torch::optim::AdamW& opt,
                     const std::vector<Batch>& micro_batches, double lr, double grad_clip,
                     SlmObjective* slm, int64_t step, const HeadOptions& head, Distributed* dist) {
  const int64_t world = dist ? dist->world() : 1;
  StepStats s = accumulate_gradients(model, micro_batches, slm, step, head, world);
  if (world > 1) {
    std::vector<torch::Tensor> grads;
    for (auto& p : model->parameters())
      if (p.grad().defined()) grads.push_back(p.grad());
    dist->all_reduce_sum(grads);
    reduce_stats(*dist, s);
  }
  if (grad_clip > 0) {
    s.grad_norm = torch::nn::utils::clip_grad_norm_(model->parameters(), grad_clip);
  } else {
    double sq = 0;
    for (auto& p : model->parameters())
      if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
    s.grad_norm = std::sqrt(sq);
  }
  if (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm)) {
    // One NaN in the update would spread to every weight through AdamW's moments.
    compat::zero_grad(opt);
    s.skipped = true;
    return s;
  }
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  opt.step();
  compat::zero_grad(opt);
  return s;
}

double validation_loss(LlamaForCausalLM& model, const std::shared_ptr<const PackedDataset>& data,
                       int64_t micro_batch, int64_t batches, const HeadOptions& head, Distributed* dist) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = std::max<int64_t>(1, std::min(batches, data->num_windows() / micro_batch));
  const int rank = dist ? dist->rank() : 0, world = dist ? dist->world() : 1;
  // The loader's own rank split: its k-th batch on this rank is batch k * world + rank.
  DataLoader loader(data, micro_batch, /*seed=*/0, rank, world, /*shuffle=*/false);
  double total = 0;
  for (int64_t i = rank; i < n; i += world) {
    auto b = loader.next();
    total += model_token_losses(model, b.inputs, b.targets, head).mean().item<double>();
  }
  model->train();
  if (world > 1) total = dist->sum_scalar(total);
  return total / double(n);
}

namespace {

// metrics.jsonl: one JSON object per logged step. On resume, lines past the resumed step are
// dropped so the file reads as one uninterrupted run.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
    if (resume_step >= 0 && file_exists(path)) {
      std::ifstream in(path);
      std::string line, kept;
      while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
            j["step"].get<int64_t>() <= resume_step)
          kept += line + "\n";
      }
      write_file_atomic(path, kept);
    } else {
      write_file_atomic(path, std::string());
    }
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) fail_file(path, "cannot open for appending");
  }
  ~MetricsLog() { if (f_) std::fclose(f_); }
  void write(const nlohmann::json& j) {
    const std::string line = j.dump() + "\n";
    fwrite_checked(f_, line.data(), line.size(), path_);
    if (std::fflush(f_) != 0) fail_file(path_, std::string("write failed: ") + std::strerror(errno));
  }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace

TrainResult train(const TrainOptions& opts, Distributed* dist) {
  opts.validate();
  if (dist && (dist->rank() != opts.rank || dist->world() != opts.world))
    fail("internal: TrainOptions rank/world differ from the process group's");
  if (!dist && opts.world > 1) fail("a data-parallel run (world " + std::to_string(opts.world) + ") needs a process group");
  const bool rank0 = opts.rank == 0;
  auto train_data = std::make_shared<const PackedDataset>(list_shards(opts.train_data), opts.seq_len);
  std::shared_ptr<const PackedDataset> val_data;
  if (!opts.val_data.empty())
    val_data = std::make_shared<const PackedDataset>(list_shards(opts.val_data), opts.seq_len,
                                                     train_data->tokenizer_fingerprint());

  // Model: continue from a model directory, or a fresh preset sized to the shards' vocabulary.
  torch::manual_seed(opts.seed);
  LlamaForCausalLM model{nullptr};
  if (!opts.init_from.empty()) {
    model = load_model(opts.init_from);
    if (model->config.vocab_size < int64_t(train_data->vocab_size()))
      fail_file(opts.init_from, "model vocab_size " + std::to_string(model->config.vocab_size) +
                                    " is smaller than the shards' tokenizer vocabulary " +
                                    std::to_string(train_data->vocab_size()));
  } else {
    auto config = preset(opts.preset);
    config.vocab_size = train_data->vocab_size();
    config.max_position_embeddings = std::max(config.max_position_embeddings, opts.seq_len);
    model = LlamaForCausalLM(config);
  }
  if (opts.seq_len > model->config.max_position_embeddings)
    fail("--seq-len " + std::to_string(opts.seq_len) + " exceeds the model's max_position_embeddings " +
         std::to_string(model->config.max_position_embeddings));
  // Every rank starts from rank 0's weights (identical by seed already; this makes it certain).
  if (dist) {
    torch::NoGradGuard no_grad;
    dist->broadcast(model->parameters(), 0);
  }
  auto optimizer = make_optimizer(model, opts.optim);

  std::unique_ptr<SlmObjective> slm;
  if (opts.objective == "slm") {
    std::unique_ptr<Reference> ref;
    if (!opts.selection.ref_scores.empty()) ref = offline_reference(*train_data, opts.selection.ref_scores);
    else if (!opts.selection.ref_model.empty()) ref = online_reference(opts.selection.ref_model, model->config.vocab_size);
    slm = std::make_unique<SlmObjective>(opts.selection, std::move(ref), opts.seed);
    slm->set_distributed(dist);
  }

  TrainerState state;
  state.run = opts.to_json();
  const auto latest = latest_checkpoint(opts.out_dir);
  if (latest && !opts.resume)
    fail_file(opts.out_dir, "already holds checkpoints; pass --resume to continue it or choose another --out");
  if (latest) {
    state = load_checkpoint(*latest, model, *optimizer);
    for (const char* k : {"seq_len", "micro_batch", "grad_accum", "seed", "world", "objective", "ratio", "scope", "score"})
      if (state.run.value(k, nlohmann::json()) != opts.to_json()[k])
        fail_file(*latest, std::string("was written with a different ") + k + " (" +
                               state.run.value(k, nlohmann::json()).dump() + "); resume needs the same");
    state.run = opts.to_json();
    if (rank0) std::fprintf(stderr, "resuming from %s (step %lld)\n", latest->c_str(), (long long)state.step);
  }
  make_dirs(opts.out_dir);
  if (rank0) remove_stale_temps(opts.out_dir);  // metrics or summary writes cut short by a kill
  std::unique_ptr<MetricsLog> metrics;
  if (rank0) metrics = std::make_unique<MetricsLog>(opts.out_dir + "/metrics.jsonl", latest ? state.step : -1);

  DataLoader loader(train_data, opts.micro_batch, opts.seed, opts.rank, opts.world);
  loader.set_cursor(state.data_cursor);
  const auto& o = opts.optim;
  const int64_t tokens_per_step = opts.micro_batch * opts.seq_len * opts.grad_accum * opts.world;
  if (rank0)
    std::fprintf(stderr,
                 "model: %s params (%lld layers, hidden %lld, vocab %lld) | data: %lld windows of %lld "
                 "tokens | %s tokens/step | %lld steps\n",
                 format_count(double(model->config.num_params())).c_str(),
                 (long long)model->config.num_hidden_layers, (long long)model->config.hidden_size,
                 (long long)model->config.vocab_size, (long long)train_data->num_windows(),
                 (long long)opts.seq_len, format_count(double(tokens_per_step)).c_str(), (long long)o.max_steps);

  TrainResult result;
  const auto t_start = Clock::now();
  auto t_window = Clock::now();
  int64_t tokens_window = 0;
  double last_val = std::nan("");
  StepStats stats;
  BadStepGuard bad_steps(opts.max_bad_steps, state.bad_steps);
  int64_t saved_step = latest ? state.step : -1;
  StopSignals signals;
  model->train();
  while (state.step < o.max_steps && !(opts.stop_after > 0 && state.step >= opts.stop_after)) {
    int stop = StopSignals::pending();
    // Every rank must stop after the same step: a signal seen by any rank stops them all.
    if (dist && dist->world() > 1 && dist->sum_scalar(stop ? 1.0 : 0.0) > 0 && !stop) stop = SIGTERM;
    if (stop) {
      result.stopped_by = stop;
      break;
    }
    const double lr = lr_at(state.step, o.warmup_steps, o.max_steps, o.lr, o.min_lr);
    std::vector<Batch> micro;
    for (int64_t a = 0; a < opts.grad_accum; ++a) micro.push_back(loader.next());
    SlmObjective* objective = slm && slm->active(state.step, o.max_steps) ? slm.get() : nullptr;
    stats = train_step(model, *optimizer, micro, lr, o.grad_clip, objective, state.step, opts.head, dist);
    state.step += 1;
    // A skipped step still consumes its data and its place in the schedule, so a resumed run
    // and an uninterrupted one stay the same.
    bad_steps.record(state.step, stats.loss, stats.grad_norm);
    state.bad_steps = bad_steps.total();
    state.data_cursor = loader.cursor();
    state.tokens_seen += stats.tokens_seen;  // global batch (train_step sums over ranks)
    state.tokens_trained += stats.tokens_trained;
    tokens_window += stats.tokens_seen;

    const bool last = state.step == o.max_steps || state.step == opts.stop_after;
    const bool do_val = val_data && ((opts.val_every > 0 && state.step % opts.val_every == 0) || last);
    if (do_val) last_val = validation_loss(model, val_data, opts.micro_batch, opts.val_batches, opts.head, dist);
    if (!rank0) continue;
    nlohmann::json m = {{"step", state.step}, {"lr", lr}, {"loss", stats.loss},
                        {"grad_norm", stats.grad_norm}, {"tokens_seen", state.tokens_seen},
                        {"tokens_trained", state.tokens_trained}};
    if (do_val) m["val_loss"] = last_val;
    if (stats.skipped) m["skipped"] = true;
    if (state.bad_steps) m["bad_steps"] = state.bad_steps;
    if (objective) {
      const auto& sel = stats.selection;
      m["selected"] = sel.selected;
      m["selected_checksum"] = sel.selected_checksum;
      m["loss_selected"] = sel.loss_selected_sum / std::max<int64_t>(1, sel.selected);
      m["loss_unselected"] = sel.loss_unselected_sum / std::max<int64_t>(1, sel.candidates - sel.selected);
      m["threshold"] = sel.threshold_sum / std::max<int64_t>(1, sel.thresholds);
    }
    if (state.step % opts.log_every == 0 || last || do_val) {
      const double dt = seconds_since(t_window);
      const double tps = tokens_window / std::max(dt, 1e-9);
      m["tokens_per_s"] = tps;
      const double eta = double(o.max_steps - state.step) * tokens_per_step / std::max(tps, 1e-9);
      std::string slm_text;
      if (objective)
        slm_text = " | kept " + std::to_string(stats.selection.selected) + "/" +
                   std::to_string(stats.selection.candidates) + " (sel loss " +
                   std::to_string(m["loss_selected"].get<double>()).substr(0, 5) + ")";
      std::fprintf(stderr, "step %5lld/%lld | loss %.4f | lr %.2e | grad %.2f%s | %s tok/s%s | ETA %s\n",
                   (long long)state.step, (long long)o.max_steps, stats.loss, lr, stats.grad_norm,
                   slm_text.c_str(), format_count(tps).c_str(),
                   do_val ? (" | val " + std::to_string(last_val).substr(0, 6)).c_str() : "",
                   format_duration(eta).c_str());
      t_window = Clock::now();
      tokens_window = 0;
    }
    metrics->write(m);
    if ((opts.ckpt_every > 0 && state.step % opts.ckpt_every == 0) || last) {
      save_checkpoint(opts.out_dir, model, *optimizer, state, opts.keep_last);
      saved_step = state.step;
    }
  }
  if (result.stopped_by) {
    std::string where = "its checkpoint was already written";
    if (rank0 && saved_step != state.step)
      where = "checkpoint " + save_checkpoint(opts.out_dir, model, *optimizer, state, opts.keep_last);
    if (rank0)
      std::fprintf(stderr, "stopped by %s after step %lld/%lld (%s); continue with --resume\n",
                   StopSignals::name(result.stopped_by), (long long)state.step, (long long)o.max_steps,
                   where.c_str());
  }
  result.steps = state.step;
  result.bad_steps = state.bad_steps;
  result.final_train_loss = stats.loss;
  result.final_val_loss = last_val;
  result.tokens_seen = state.tokens_seen;
  result.tokens_trained = state.tokens_trained;
  result.seconds = seconds_since(t_start);
  if (rank0 && !result.stopped_by) {
    result.final_dir = opts.out_dir + "/final";
    save_model(result.final_dir, model);
    remove_stale_temps(result.final_dir);
    nlohmann::json summary = {{"objective", opts.objective}, {"steps", result.steps}, {"final_train_loss", result.final_train_loss},
                              {"tokens_seen", result.tokens_seen}, {"tokens_trained", result.tokens_trained},
                              {"seconds", result.seconds}, {"model", result.final_dir}};
    if (!std::isnan(last_val)) summary["final_val_loss"] = last_val;
    if (dist) {
      summary["world"] = dist->world();
      summary["comm_seconds"] = dist->comm_seconds();  // rank 0's time inside collectives
    }
    write_file_atomic(opts.out_dir + "/summary.json", summary.dump(2) + "\n");
    std::fprintf(stderr, "done: %lld steps, %s tokens seen, %s trained on, in %s; model in %s\n",
                 (long long)result.steps, format_count(double(result.tokens_seen)).c_str(),
                 format_count(double(result.tokens_trained)).c_str(),
                 format_duration(result.seconds).c_str(), result.final_dir.c_str());
  }
  return result;
}

}  // namespace rho
