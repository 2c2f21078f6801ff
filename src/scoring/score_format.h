// The RHOSCOR1 score file itself (format in score_file.h): reading, checking and writing, free of
// libtorch so that the fuzzer can link it alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rho {

struct ScoreHeader {
  uint32_t version = 1;
  uint32_t dtype = 1;
  uint64_t n_scores = 0;
  uint64_t shard_fingerprint = 0;
  uint64_t model_fingerprint = 0;
  uint32_t seq_len = 0;
};
constexpr size_t kScoreHeaderBytes = 64;

std::string score_path_for(const std::string& scores_dir, const std::string& shard_path);

// Writes header + scores to `path` atomically.
void write_score_file(const std::string& path, const ScoreHeader& h, const float* scores);

// A score file read into memory, header checked (magic, version, dtype, exact size).
// UserError "<path>: <problem>" otherwise.
struct ScoreFile {
  ScoreHeader header;
  std::vector<float> scores;
  static ScoreFile read(const std::string& path);
  static ScoreFile parse(const std::string& bytes, const std::string& where);
};

}  // namespace rho
