#include "scoring/score_file.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

uint64_t shard_fingerprint(const Shard& shard) {
  const auto& h = shard.header();
  uint64_t fp = fnv1a64(&h.n_tokens, sizeof h.n_tokens);
  fp = fnv1a64(&h.tokenizer_fingerprint, sizeof h.tokenizer_fingerprint, fp);
  // Tokens in blocks, as int32, so the fingerprint does not depend on the stored width.
  std::vector<int32_t> block(1 << 16);
  for (uint64_t i = 0; i < shard.size(); i += block.size()) {
    const uint64_t n = std::min<uint64_t>(block.size(), shard.size() - i);
    for (uint64_t j = 0; j < n; ++j) block[j] = shard.token(i + j);
    fp = fnv1a64(block.data(), n * sizeof(int32_t), fp);
  }
  return fp;
}

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

ScoreSet::ScoreSet(const PackedDataset& data, const std::string& scores_dir) {
  const int64_t T = data.seq_len();
  for (size_t i = 0; i < data.shards().size(); ++i) {
    const auto& shard = *data.shards()[i];
    const std::string path = score_path_for(scores_dir, shard.path());
    if (!file_exists(path)) fail_file(path, "missing: no scores for shard " + shard.path() + " (run rho score)");
    ScoreFile f = ScoreFile::read(path);
    if (f.header.n_scores != shard.size())
      fail_file(path, "holds " + std::to_string(f.header.n_scores) + " scores but shard " + shard.path() +
                          " has " + std::to_string(shard.size()) + " tokens");
    if (f.header.seq_len != uint32_t(T))
      fail_file(path, "was scored with seq_len " + std::to_string(f.header.seq_len) + ", training uses " +
                          std::to_string(T) + "; rescore with the training seq_len");
    if (f.header.shard_fingerprint != shard_fingerprint(shard))
      fail_file(path, "fingerprint does not match shard " + shard.path() + " (scored a different shard?)");
    if (i == 0) model_fp_ = f.header.model_fingerprint;
    else if (f.header.model_fingerprint != model_fp_)
      fail_file(path, "was scored by a different reference model than the other score files");
    // Every position a window targets must hold a usable loss.
    const uint64_t windows = shard.size() >= uint64_t(T + 1) ? (shard.size() - 1) / uint64_t(T) : 0;
    for (uint64_t p = 1; p <= windows * uint64_t(T); ++p) {
      const float v = f.scores[p];
      if (!std::isfinite(v) || v < 0)
        fail_file(path, "position " + std::to_string(p) + ": reference loss " + std::to_string(v) +
                            " is not a finite value >= 0");
    }
    scores_.push_back(std::move(f.scores));
  }
}

torch::Tensor ScoreSet::lookup(const std::vector<WindowRef>& windows, int64_t T) const {
  auto out = torch::empty({int64_t(windows.size()), T}, torch::kFloat);  // (B, T)
  float* dst = out.data_ptr<float>();
  for (size_t b = 0; b < windows.size(); ++b)
    std::memcpy(dst + b * T, scores_[windows[b].shard].data() + windows[b].start + 1, size_t(T) * sizeof(float));
  return out;
}

}  // namespace rho
