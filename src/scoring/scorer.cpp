#include "scoring/scorer.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "eval/token_losses.h"
#include "model/compat.h"
#include "scoring/score_file.h"

namespace rho {

ScoreStats score_shards(const ScoreOptions& opts) {
  if (opts.seq_len < 1) fail("--seq-len must be >= 1");
  if (opts.batch < 1) fail("--batch must be >= 1");
  const std::vector<std::string> files = list_shards(opts.data);
  // Every shard must come from one tokenizer (PackedDataset refuses a mix), the model's.
  const TokenizerId tok = PackedDataset(files, opts.seq_len).tokenizer();
  auto model = load_model_for(opts.model, {"reference model", tok, opts.seq_len, opts.allow_unrecorded_tokenizer});
  model->eval();
  const uint64_t model_fp = model_fingerprint(model);  // of the weights as saved, whatever the precision
  prepare_for_inference(*model, opts.compute);
  EvalOptions eval;
  eval.batch = opts.batch;
  eval.compute = opts.compute;
  make_dirs(opts.out_dir);
  remove_stale_temps(opts.out_dir);  // score files whose writer was killed

  ScoreStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  auto last_print = t0;
  for (const auto& file : files) {
    // One dataset per shard: windows in shard order, exactly the windows training cuts.
    PackedDataset data({file}, opts.seq_len);
    const auto& shard = *data.shards()[0];
    const std::string out = score_path_for(opts.out_dir, file);
    const uint64_t shard_fp = shard_fingerprint(shard);
    if (file_exists(out)) {
      try {
        auto h = ScoreFile::read(out).header;
        if (h.shard_fingerprint == shard_fp && h.model_fingerprint == model_fp && h.seq_len == uint32_t(opts.seq_len)) {
          ++stats.shards_skipped;
          std::fprintf(stderr, "score: %s done already, skipped\n", out.c_str());
          continue;
        }
      } catch (const UserError&) {
        // A damaged or foreign file: score the shard again and replace it.
      }
    }
    std::vector<float> scores(shard.size(), std::nanf(""));
    const int64_t T = opts.seq_len, W = data.num_windows();
    window_losses(model, data, 0, W, eval, [&](int64_t w, const float* losses) {
      // Window w predicts shard positions start+1 .. start+T.
      std::copy(losses, losses + T, scores.begin() + int64_t(data.window_in_order(w).start) + 1);
      stats.tokens += T;
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_print).count() > 2.0) {
        const double s = std::chrono::duration<double>(now - t0).count();
        std::fprintf(stderr, "score: %s %lld/%lld windows | %s tok/s\n", file.c_str(), (long long)(w + 1),
                     (long long)W, format_count(stats.tokens / s).c_str());
        last_print = now;
      }
    });
    ScoreHeader h;
    h.n_scores = shard.size();
    h.shard_fingerprint = shard_fp;
    h.model_fingerprint = model_fp;
    h.seq_len = uint32_t(opts.seq_len);
    write_score_file(out, h, scores.data());
    ++stats.shards_scored;
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "score: %d shards scored, %d skipped, %s tokens in %s (%s tok/s)\n", stats.shards_scored,
               stats.shards_skipped, format_count(double(stats.tokens)).c_str(),
               format_duration(stats.seconds).c_str(),
               format_count(stats.tokens / std::max(stats.seconds, 1e-9)).c_str());
  return stats;
}

}  // namespace rho
