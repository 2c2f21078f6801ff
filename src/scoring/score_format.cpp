#include "scoring/score_format.h"

#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

static const char kScoreMagic[8] = {'R', 'H', 'O', 'S', 'C', 'O', 'R', '1'};

std::string score_path_for(const std::string& scores_dir, const std::string& shard_path) {
  return scores_dir + "/" + std::filesystem::path(shard_path).stem().string() + ".scores";
}

void write_score_file(const std::string& path, const ScoreHeader& h, const float* scores) {
  unsigned char header[kScoreHeaderBytes] = {};
  std::memcpy(header, kScoreMagic, 8);
  std::memcpy(header + 8, &h.version, 4);
  std::memcpy(header + 12, &h.dtype, 4);
  std::memcpy(header + 16, &h.n_scores, 8);
  std::memcpy(header + 24, &h.shard_fingerprint, 8);
  std::memcpy(header + 32, &h.model_fingerprint, 8);
  std::memcpy(header + 40, &h.seq_len, 4);
  write_file_atomic(path, [&](std::FILE* f) {
    fwrite_checked(f, header, sizeof header, path);
    fwrite_checked(f, scores, h.n_scores * sizeof(float), path);
  });
}

ScoreFile ScoreFile::read(const std::string& path) { return parse(read_file(path), path); }

ScoreFile ScoreFile::parse(const std::string& bytes, const std::string& path) {
  if (bytes.size() < kScoreHeaderBytes) fail_file(path, "truncated score file (shorter than its 64-byte header)");
  if (std::memcmp(bytes.data(), kScoreMagic, 8) != 0) fail_file(path, "not a score file (wrong magic)");
  ScoreFile s;
  auto& h = s.header;
  std::memcpy(&h.version, bytes.data() + 8, 4);
  std::memcpy(&h.dtype, bytes.data() + 12, 4);
  std::memcpy(&h.n_scores, bytes.data() + 16, 8);
  std::memcpy(&h.shard_fingerprint, bytes.data() + 24, 8);
  std::memcpy(&h.model_fingerprint, bytes.data() + 32, 8);
  std::memcpy(&h.seq_len, bytes.data() + 40, 4);
  if (h.version != 1) fail_file(path, "unsupported score file version " + std::to_string(h.version));
  if (h.dtype != 1) fail_file(path, "unsupported score dtype " + std::to_string(h.dtype));
  if (h.n_scores > (bytes.size() - kScoreHeaderBytes) / sizeof(float) ||
      bytes.size() != kScoreHeaderBytes + h.n_scores * sizeof(float))
    fail_file(path, "file size " + std::to_string(bytes.size()) + " does not match its " +
                        std::to_string(h.n_scores) + " scores (truncated or padded)");
  s.scores.resize(h.n_scores);
  // memcpy to the null data() of an empty vector is undefined even for 0 bytes (found by fuzzing).
  if (h.n_scores) std::memcpy(s.scores.data(), bytes.data() + kScoreHeaderBytes, h.n_scores * sizeof(float));
  return s;
}

}  // namespace rho
