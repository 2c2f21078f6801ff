// rho train: the CLI over train/. Every flag is generated from the one table of settings
// (TrainOptions::describe in train/options.h) through cli/flags.h.
#include <cstdlib>

#include "cli/commands.h"
#include "cli/flags.h"
#include "dist/distributed.h"
#include "train/trainer.h"

namespace rho::cli {

void register_train(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "Train a model with CLM or SLM, from scratch or from a checkpoint (docs/slm.md)");
  auto o = std::make_shared<TrainOptions>();
  AddFlags flags{sub};
  o->describe(flags);
  sub->callback([o] {
    // Data parallel when launched as several processes (rho launch, torchrun, Slurm, mpirun).
    const DistEnv env = dist_env_from_environment();
    o->rank = env.rank;
    o->world = env.world;
    o->validate();  // every rule between settings, before any process connects or anything loads
    start_model_command(*o, o->blas_threads);
    std::unique_ptr<Distributed> dist;
    if (env.world > 1) {
      place_rank(*o, env);  // one process per GPU, over NCCL
      dist = Distributed::connect(env, o->compute().device);
    }
    const auto r = train(*o, dist.get());
    // Stopped by SIGINT/SIGTERM after a checkpoint: the shell's convention for a signal's exit
    // status (130, 143), so `rho train && next-stage` does not go on with an unfinished model.
    if (r.stopped_by) std::exit(128 + r.stopped_by);
  });
}

}  // namespace rho::cli
