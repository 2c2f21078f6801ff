#include "scoring/scorer.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "model/io.h"
#include "scoring/score_file.h"

namespace rho {

ScoreStats score_shards(const ScoreOptions& opts) {
  if (opts.seq_len < 1) fail("--seq-len must be >= 1");
  if (opts.batch < 1) fail("--batch must be >= 1");
  const std::vector<std::string> files = list_shards(opts.data);
  auto model = load_model(opts.model);
  model->eval();
  torch::NoGradGuard no_grad;
  const uint64_t model_fp = model_fingerprint(model);
  make_dirs(opts.out_dir);
  remove_stale_temps(opts.out_dir);  // score files whose writer was killed

  ScoreStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  auto last_print = t0;
  for (const auto& file : files) {
    // One dataset per shard: windows in shard order, exactly the windows training cuts.
    PackedDataset data({file}, opts.seq_len);
    const auto& shard = *data.shards()[0];
    if (int64_t(shard.header().vocab_size) > model->config.vocab_size)
      fail_file(opts.model, "vocab_size " + std::to_string(model->config.vocab_size) +
                                " is smaller than the vocabulary of shard " + file + " (" +
                                std::to_string(shard.header().vocab_size) + ")");
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
    auto inputs = torch::empty({opts.batch, T}, torch::kLong), targets = torch::empty({opts.batch, T}, torch::kLong);
    for (int64_t w0 = 0; w0 < W; w0 += opts.batch) {
      const int64_t B = std::min(opts.batch, W - w0);
      std::vector<WindowRef> refs;
      for (int64_t b = 0; b < B; ++b) {
        refs.push_back(data.window_in_order(w0 + b));
        data.read_window(refs.back(), inputs[b].data_ptr<int64_t>(), targets[b].data_ptr<int64_t>());
      }
      auto in = inputs.slice(0, 0, B), tg = targets.slice(0, 0, B);
      auto losses = per_token_loss(model->forward(in), tg).contiguous();  // (B, T)
      const float* l = losses.data_ptr<float>();
      for (int64_t b = 0; b < B; ++b)
        std::copy(l + b * T, l + (b + 1) * T, scores.begin() + int64_t(refs[b].start) + 1);
      stats.tokens += B * T;
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_print).count() > 2.0) {
        const double s = std::chrono::duration<double>(now - t0).count();
        std::fprintf(stderr, "score: %s %lld/%lld windows | %s tok/s\n", file.c_str(), (long long)(w0 + B),
                     (long long)W, format_count(stats.tokens / s).c_str());
        last_print = now;
      }
    }
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
