// rho train / rho score / rho model: the CLI over train/, scoring/ and model/. Every train flag is
// generated from the one table of settings (TrainOptions::describe in train/options.h).
#include <cstdio>
#include <cstdlib>

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

// Turns each setting of the table into a CLI11 flag with the table's range.
struct AddFlags {
  CLI::App* sub;
  template <class I>
  void integer(const char* flag, const char*, I& x, I lo, I hi, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->check(CLI::Range(lo, hi))->capture_default_str();
  }
  void real(const char* flag, const char*, double& x, Bounds b, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->check(in_bounds(b))->capture_default_str();
  }
  void text(const char* flag, const char*, std::string& x, bool required, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->required(required);
  }
  void texts(const char* flag, const char*, std::vector<std::string>& x, bool required, OnResume, const char* help) {
    if (flag) sub->add_option(flag, x, help)->required(required);
  }
  template <class E>
  void choice(const char* flag, const char*, E& x, const std::vector<std::pair<std::string, E>>& names, OnResume,
              const char* help) {
    if (!flag) return;
    std::vector<std::string> keys;
    std::string shown;
    for (const auto& n : names) {
      keys.push_back(n.first);
      if (n.second == x) shown = n.first;
    }
    sub->add_option_function<std::string>(
           flag,
           [&x, names](const std::string& s) {
             for (const auto& n : names)
               if (n.first == s) x = n.second;
           },
           help)
        ->check(CLI::IsMember(keys))
        ->default_str(shown);
  }
  void flag(const char* flag, const char*, bool& x, bool when_given, OnResume, const char* help) {
    if (flag) sub->add_flag_function(flag, [&x, when_given](int64_t) { x = when_given; }, help);
  }
};

}  // namespace

void register_train(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "Train a model with CLM or SLM, from scratch or from a checkpoint (docs/slm.md)");
  auto o = std::make_shared<TrainOptions>();
  AddFlags flags{sub};
  o->describe(flags);
  sub->callback([o] {
    warn_if_reference_blas();
    configure_threads(o->threads);
    configure_blas_threads(o->blas_threads);
    // Data parallel when launched as several processes (rho launch, torchrun, Slurm, mpirun).
    const DistEnv env = dist_env_from_environment();
    std::unique_ptr<Distributed> dist;
    if (env.world > 1) {
      // One process per GPU: rank r of a node uses its LOCAL_RANK-th GPU, over NCCL.
      const Compute c = resolve_compute(o->device, o->precision);
      if (c.device.is_cuda() && (o->device == "auto" || o->device == "cuda")) o->device = "cuda:" + std::to_string(env.local_rank);
      dist = Distributed::connect(env, resolve_compute(o->device, o->precision).device);
      o->rank = env.rank;
      o->world = env.world;
    }
    const auto r = train(*o, dist.get());
    // Stopped by SIGINT/SIGTERM after a checkpoint: the shell's convention for a signal's exit
    // status (130, 143), so `rho train && next-stage` does not go on with an unfinished model.
    if (r.stopped_by) std::exit(128 + r.stopped_by);
  });
}

void register_score(CLI::App& app) {
  auto* sub = app.add_subcommand("score", "Score token shards with a reference model: per-token losses, once (docs/formats.md)");
  auto o = std::make_shared<ScoreOptions>();
  auto threads = std::make_shared<int>(0);
  sub->add_option("--model", o->model, "Reference model directory")->required();
  sub->add_option("--data", o->data, "Shard files or directories")->required();
  sub->add_option("--out", o->out_dir, "Directory for the score files")->required();
  sub->add_option("--seq-len", o->seq_len, "Packing length: must equal training's --seq-len")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--threads", *threads, "libtorch intra-op threads (0: library default)")->check(CLI::Range(0, 1024));
  auto dtype = std::make_shared<std::string>("f32");
  sub->add_option("--score-dtype", *dtype, "How losses are stored: f32, or f16 / bf16 (half the disk)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  sub->add_option("--save-every", o->save_every, "Windows between progress saves: a killed run resumes there")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40))
      ->capture_default_str();
  sub->add_flag("--allow-unrecorded-tokenizer", o->allow_unrecorded_tokenizer,
                "Use a model that records no tokenizer (the check is skipped, with a warning)");
  auto compute = add_compute_flags(sub);
  sub->callback([o, threads, dtype, compute] {
    warn_if_reference_blas();
    configure_threads(*threads);
    o->dtype = parse_score_dtype(*dtype);
    // Several processes (rho launch, torchrun, or independent jobs given RANK and WORLD_SIZE)
    // split the shards' batches among themselves; they never need to connect. On CUDA, rank r
    // of a node uses its LOCAL_RANK-th GPU, as training does.
    const DistEnv env = dist_env_from_environment(/*rendezvous=*/false);
    o->rank = env.rank;
    o->world = env.world;
    if (env.world > 1 && compute->resolve().device.is_cuda() && (compute->device == "auto" || compute->device == "cuda"))
      compute->device = "cuda:" + std::to_string(env.local_rank);
    o->compute = compute->resolve();
    score_shards(*o);
  });
}

void register_model(CLI::App& app) {
  auto* sub = app.add_subcommand("model", "Model presets and configs (docs/hf.md)");
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
  register_model_logits(*sub);
}

}  // namespace rho::cli
