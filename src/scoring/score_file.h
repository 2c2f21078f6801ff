// The RHOSCOR1 score file itself: its header, its value types, reading (memory-mapped) and
// writing. Free of libtorch so that the fuzzer can link it alone.
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
//       44     8  reference tokenizer fingerprint: 0 when the reference read the shards' own
//                  tokens (every file before --cross-tokenizer), else the Tokenizer::fingerprint()
//                  of the reference's tokenizer (scoring/cross_tokenizer.h)
//       52    12  reserved, zero
//       64     .  n_scores values of the dtype
// Positions that are the target of no window (position 0, the shard's tail, every position of a
// shard shorter than T+1) hold NaN: "not scored". Every targeted position holds a finite loss >= 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rho {

// How the losses are stored. f16 and bf16 halve the disk (28 GB instead of 56 GB for 14B
// tokens); values are rounded to nearest even and read back as float32.
enum class ScoreDtype : uint32_t { F32 = 1, F16 = 2, BF16 = 3 };
size_t score_dtype_bytes(ScoreDtype d);
std::string to_string(ScoreDtype d);  // "f32", "f16", "bf16"
// UserError naming the accepted names otherwise.
ScoreDtype parse_score_dtype(const std::string& name);

// IEEE 754 binary16 and bfloat16, round to nearest even; NaN stays NaN, overflow becomes inf.
uint16_t float_to_f16(float f);
float f16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t h);
// n values from float32 to `d` (out holds n * score_dtype_bytes(d) bytes), and back.
void encode_scores(ScoreDtype d, const float* in, size_t n, unsigned char* out);
void decode_scores(ScoreDtype d, const unsigned char* in, size_t n, float* out);

constexpr uint32_t kScoreVersion = 2;  // version 1: float32 only, otherwise the same
struct ScoreHeader {
  uint32_t version = kScoreVersion;
  ScoreDtype dtype = ScoreDtype::F32;
  uint64_t n_scores = 0;
  uint64_t shard_fingerprint = 0;
  uint64_t model_fingerprint = 0;
  uint32_t seq_len = 0;
  uint64_t ref_tokenizer_fingerprint = 0;  // 0: the shards' own tokenizer
  // Everything but the version: a version-1 file and a version-2 float32 file with equal fields
  // hold the same scores.
  bool same_content(const ScoreHeader& o) const {
    return dtype == o.dtype && n_scores == o.n_scores && shard_fingerprint == o.shard_fingerprint &&
           model_fingerprint == o.model_fingerprint && seq_len == o.seq_len &&
           ref_tokenizer_fingerprint == o.ref_tokenizer_fingerprint;
  }
};
constexpr size_t kScoreHeaderBytes = 64;
void encode_score_header(const ScoreHeader& h, unsigned char* out);  // kScoreHeaderBytes bytes
uint64_t score_file_bytes(const ScoreHeader& h);                     // header + values

std::string score_path_for(const std::string& scores_dir, const std::string& shard_path);

// Writes header + scores (float32, stored as h.dtype) to `path` atomically.
void write_score_file(const std::string& path, const ScoreHeader& h, const float* scores);

// A score file, memory-mapped: opening reads only the header (magic, version, dtype, exact file
// size); values are converted as they are read, so a training rank touches only the pages of
// the windows it trains on. UserError "<path>: <problem>" otherwise.
class ScoreFile {
 public:
  static std::shared_ptr<const ScoreFile> open(const std::string& path);
  ~ScoreFile();
  const ScoreHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  uint64_t size() const { return header_.n_scores; }
  // Values [start, start + n) as float32; UserError when they run past the end.
  void read(uint64_t start, uint64_t n, float* out) const;
  std::vector<float> read_all() const;

 private:
  ScoreFile() = default;
  std::string path_;
  ScoreHeader header_;
  const unsigned char* map_ = nullptr;
  size_t map_bytes_ = 0;
};

}  // namespace rho
