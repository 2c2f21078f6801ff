// `rho score`: run the reference model once over token shards and store every token's loss.
#pragma once
#include <string>
#include <vector>

#include "model/compute.h"

namespace rho {

struct ScoreOptions {
  std::string model;                // reference model directory
  std::vector<std::string> data;    // shard files or directories
  std::string out_dir;              // one .scores file per shard
  int64_t seq_len = 256;            // must equal the training seq_len (positions align)
  int64_t batch = 16;
  bool allow_unrecorded_tokenizer = false;  // model/compat.h
  Compute compute;                          // bf16: the reference runs as bf16 weights
};

struct ScoreStats {
  int shards_scored = 0, shards_skipped = 0;
  int64_t tokens = 0;
  double seconds = 0;
};

// The reference losses come from eval/token_losses.h, the path validation and `rho eval loss`
// use. Shards whose score file already exists and matches (shard, model, seq_len) are skipped, so an
// interrupted run resumes without redoing finished shards. Each file is written atomically.
ScoreStats score_shards(const ScoreOptions& opts);

}  // namespace rho
