// rho score: the CLI over scoring/ (per-token reference losses, once, offline).
#include "cli/commands.h"
#include "cli/flags.h"
#include "dist/distributed.h"
#include "scoring/scorer.h"

namespace rho::cli {

void register_score(CLI::App& app) {
  auto* sub = app.add_subcommand("score", "Score token shards with a reference model: per-token losses, once (docs/formats.md)");
  auto o = std::make_shared<ScoreOptions>();
  sub->add_option("--model", o->model, "Reference model directory")->required();
  sub->add_option("--data", o->data, "Shard files or directories")->required();
  sub->add_option("--out", o->out_dir, "Directory for the score files")->required();
  sub->add_option("--seq-len", o->seq_len, "Packing length: must equal training's --seq-len")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--batch", o->batch, "Sequences per forward pass")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  auto dtype = std::make_shared<std::string>("f32");
  sub->add_option("--score-dtype", *dtype, "How losses are stored: f32, or f16 / bf16 (half the disk)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  sub->add_option("--save-every", o->save_every, "Windows between progress saves: a killed run resumes there")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40))
      ->capture_default_str();
  sub->add_flag("--cross-tokenizer", o->cross_tokenizer,
                "The reference has another tokenizer (its directory carries it): score each window's text "
                "through it and map the losses back to the shards' tokens by bytes (docs/slm.md)");
  sub->add_option("--data-tokenizer", o->data_tokenizer, "With --cross-tokenizer: the shards' tokenizer (to read their text)");
  auto run = add_run_flags(sub);
  sub->callback([o, dtype, run] {
    start_model_command(*run);
    o->dtype = parse_score_dtype(*dtype);
    // Several processes (rho launch, torchrun, or independent jobs given RANK and WORLD_SIZE)
    // split the shards' batches among themselves; they never need to connect. On CUDA, rank r
    // of a node uses its LOCAL_RANK-th GPU, as training does.
    const DistEnv env = dist_env_from_environment(/*rendezvous=*/false);
    o->rank = env.rank;
    o->world = env.world;
    place_rank(*run, env);
    o->compute = run->compute();
    o->head = run->head;
    o->allow_unrecorded_tokenizer = run->allow_unrecorded_tokenizer;
    score_shards(*o);
  });
}

}  // namespace rho::cli
