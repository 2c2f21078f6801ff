// Score files: per-token reference losses L_ref(x_p) = -log p_ref(x_p | x_<p) for every position p
// of one token shard, computed once by `rho score` (the paper's offline scoring).
//
// One score file per shard: <scores_dir>/<shard file stem>.scores. Format, version 2, little-endian:
//   offset  size  field
//        0     8  magic "RHOSCOR1"
//        8     4  version = 2 (version 1: dtype is always 1, otherwise identical; still read)
//       12     4  dtype: 1 = float32, 2 = float16, 3 = bfloat16
//       16     8  n_scores (== the shard's n_tokens)
//       24     8  shard fingerprint (Shard::content_fingerprint())
//       32     8  reference model fingerprint (model_fingerprint())
//       40     4  seq_len T the shard was packed with (windows of T+1 at stride T, data/loader.h)
//       44    20  reserved, zero
//       64     .  n_scores values of the dtype
// Positions that are the target of no window (position 0, the shard's tail, every position of a
// shard shorter than T+1) hold NaN: "not scored". Every targeted position holds a finite loss >= 0.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/loader.h"
#include "model/llama.h"
#include "scoring/score_file.h"

namespace rho {

// Fingerprint of a model: its config and, per parameter, name, shape and 4,096 evenly strided
// values (cheap for 7B models, and any retrained model differs in them).
uint64_t model_fingerprint(LlamaForCausalLM& model);

// The score files of every shard of a dataset, memory-mapped and checked against it when opened
// (headers only: same shard content, same length, same seq_len, one reference model). The
// losses of the windows a batch draws are checked as they are looked up: a NaN, infinite or
// negative loss at a targeted position is a UserError naming the file and the position.
class ScoreSet {
 public:
  ScoreSet(const PackedDataset& data, const std::string& scores_dir);
  // Scores already in memory, one vector per shard (benchmarks, tests).
  explicit ScoreSet(std::vector<std::vector<float>> per_shard) : in_memory_(std::move(per_shard)) {}
  // Reference losses of the targets of `windows`: (B, T) float32.
  torch::Tensor lookup(const std::vector<WindowRef>& windows, int64_t T) const;
  uint64_t model_fingerprint() const { return model_fp_; }

 private:
  std::vector<std::shared_ptr<const ScoreFile>> files_;  // per shard
  std::vector<std::vector<float>> in_memory_;
  uint64_t model_fp_ = 0;
};

}  // namespace rho
