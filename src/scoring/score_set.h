// Score files: per-token reference losses L_ref(x_p) = -log p_ref(x_p | x_<p) for every position p
// of one token shard, computed once by `rho score` (the paper's offline scoring).
//
// One score file per shard, <scores_dir>/<shard file stem>.scores (format: score_file.h); a
// ScoreSet is the files of a set of shards, checked against them and the reference.
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
  // `expected_ref_tokenizer`: the fingerprint of the tokenizer the reference read the text with
  // (`rho train --ref-tokenizer`), 0 for the shards' own. Every file must record that one
  // (ScoreHeader::ref_tokenizer_fingerprint): scores of another tokenizer's tokens are refused.
  ScoreSet(const PackedDataset& data, const std::string& scores_dir, uint64_t expected_ref_tokenizer = 0);
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
