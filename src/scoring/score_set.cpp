#include "scoring/score_set.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

uint64_t model_fingerprint(LlamaForCausalLM& model) {
  const std::string cfg = to_json(model->config).dump();
  uint64_t fp = fnv1a64(cfg.data(), cfg.size());
  for (auto& p : model->named_parameters()) {
    fp = fnv1a64(p.key().data(), p.key().size(), fp);
    auto flat = p.value().detach().to(torch::kCPU, torch::kFloat).reshape({-1});
    const int64_t stride = std::max<int64_t>(1, flat.numel() / 4096);
    auto sample = flat.slice(0, 0, flat.numel(), stride).contiguous();
    fp = fnv1a64(sample.data_ptr<float>(), size_t(sample.numel()) * sizeof(float), fp);
  }
  return fp;
}

namespace {

// The file's reference tokenizer against the one training expects; the shards' own tokenizer
// counts as 0 either way (a cross-tokenizer run whose reference shares it).
void check_ref_tokenizer(const std::string& path, uint64_t recorded, uint64_t expected, uint64_t shards) {
  if (recorded == shards) recorded = 0;
  if (expected == shards) expected = 0;
  if (recorded == expected) return;
  if (expected == 0)
    fail_file(path, "was scored by a reference with another tokenizer (fingerprint " + hex64(recorded) +
                        "); pass --ref-tokenizer with that tokenizer to train on it");
  fail_file(path, "was scored by a reference with " +
                      (recorded == 0 ? std::string("the shards' own tokenizer") : "tokenizer fingerprint " + hex64(recorded)) +
                      ", but --ref-tokenizer is tokenizer fingerprint " + hex64(expected));
}

}  // namespace

ScoreSet::ScoreSet(const PackedDataset& data, const std::string& scores_dir, uint64_t expected_ref_tokenizer) {
  const int64_t T = data.seq_len();
  for (size_t i = 0; i < data.shards().size(); ++i) {
    const auto& shard = *data.shards()[i];
    const std::string path = score_path_for(scores_dir, shard.path());
    if (!file_exists(path)) fail_file(path, "missing: no scores for shard " + shard.path() + " (run rho score)");
    auto f = ScoreFile::open(path);
    const ScoreHeader& h = f->header();
    if (h.n_scores != shard.size())
      fail_file(path, "holds " + std::to_string(h.n_scores) + " scores but shard " + shard.path() + " has " +
                          std::to_string(shard.size()) + " tokens");
    if (h.seq_len != uint32_t(T))
      fail_file(path, "was scored with seq_len " + std::to_string(h.seq_len) + ", training uses " +
                          std::to_string(T) + "; rescore with the training seq_len");
    if (h.shard_fingerprint != shard.content_fingerprint())
      fail_file(path, "fingerprint does not match shard " + shard.path() + " (scored a different shard?)");
    check_ref_tokenizer(path, h.ref_tokenizer_fingerprint, expected_ref_tokenizer, data.tokenizer_fingerprint());
    if (i == 0) model_fp_ = h.model_fingerprint;
    else if (h.model_fingerprint != model_fp_)
      fail_file(path, "was scored by a different reference model than the other score files");
    files_.push_back(std::move(f));
  }
}

torch::Tensor ScoreSet::lookup(const std::vector<WindowRef>& windows, int64_t T) const {
  auto out = torch::empty({int64_t(windows.size()), T}, torch::kFloat);  // (B, T)
  float* dst = out.data_ptr<float>();
  for (size_t b = 0; b < windows.size(); ++b) {
    // Window w's targets are shard positions start+1 .. start+T.
    const uint64_t first = windows[b].start + 1;
    float* row = dst + b * size_t(T);
    std::string where;
    if (!files_.empty()) {
      const ScoreFile& f = *files_.at(windows[b].shard);
      f.read(first, uint64_t(T), row);
      where = f.path();
    } else {
      const auto& v = in_memory_.at(windows[b].shard);
      if (first + uint64_t(T) > v.size()) fail("scores in memory: window at " + std::to_string(first - 1) + " runs past them");
      std::memcpy(row, v.data() + first, size_t(T) * sizeof(float));
      where = "scores in memory";
    }
    // Checked here, for the windows drawn, instead of a scan of every file at start-up.
    for (int64_t t = 0; t < T; ++t)
      if (!std::isfinite(row[t]) || row[t] < 0)
        fail_file(where, "position " + std::to_string(first + uint64_t(t)) + ": reference loss " +
                             std::to_string(row[t]) + " is not a finite value >= 0");
  }
  return out;
}

}  // namespace rho
