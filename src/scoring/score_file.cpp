#include "scoring/score_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"
#include "data/shard.h"

namespace rho {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "score files are little-endian and mapped as they are");

static const char kScoreMagic[8] = {'R', 'H', 'O', 'S', 'C', 'O', 'R', '1'};

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

size_t score_dtype_bytes(ScoreDtype d) { return d == ScoreDtype::F32 ? 4 : 2; }

std::string to_string(ScoreDtype d) {
  switch (d) {
    case ScoreDtype::F32: return "f32";
    case ScoreDtype::F16: return "f16";
    case ScoreDtype::BF16: return "bf16";
  }
  return "dtype " + std::to_string(uint32_t(d));
}

ScoreDtype parse_score_dtype(const std::string& name) {
  for (ScoreDtype d : {ScoreDtype::F32, ScoreDtype::F16, ScoreDtype::BF16})
    if (to_string(d) == name) return d;
  fail("unknown score dtype \"" + name + "\" (expected f32, f16 or bf16)");
}

uint16_t float_to_f16(float f) {
  uint32_t x = bits_of(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  x &= 0x7fffffff;
  if (x >= 0x7f800000) return sign | (x > 0x7f800000 ? 0x7e00 : 0x7c00);  // NaN, inf
  if (x >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds past the largest half, 65504
  if (x < 0x38800000) {
    // Below 2^-14: a subnormal half, in units of 2^-24. The scaling is exact and nearbyint
    // rounds to nearest even.
    return sign | uint16_t(std::nearbyint(float_of(x) * 16777216.0f));
  }
  x += 0xfff + ((x >> 13) & 1);  // round to nearest even at the 13 bits that are dropped
  return sign | uint16_t((x - 0x38000000) >> 13);  // exponent bias 127 -> 15
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {
    const float v = float(mant) / 16777216.0f;  // subnormal: mant * 2^-24, exact
    return sign ? -v : v;
  }
  if (exp == 31) return float_of(sign | 0x7f800000 | (mant << 13));
  return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t float_to_bf16(float f) {
  const uint32_t x = bits_of(f);
  if ((x & 0x7fffffff) > 0x7f800000) return uint16_t((x >> 16) | 0x40);  // NaN stays a (quiet) NaN
  return uint16_t((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

float bf16_to_float(uint16_t h) { return float_of(uint32_t(h) << 16); }

void encode_scores(ScoreDtype d, const float* in, size_t n, unsigned char* out) {
  if (d == ScoreDtype::F32) {
    std::memcpy(out, in, n * 4);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = d == ScoreDtype::F16 ? float_to_f16(in[i]) : float_to_bf16(in[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void decode_scores(ScoreDtype d, const unsigned char* in, size_t n, float* out) {
  if (d == ScoreDtype::F32) {
    if (n) std::memcpy(out, in, n * 4);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    out[i] = d == ScoreDtype::F16 ? f16_to_float(h) : bf16_to_float(h);
  }
}

void encode_score_header(const ScoreHeader& h, unsigned char* out) {
  std::memset(out, 0, kScoreHeaderBytes);
  const uint32_t dtype = uint32_t(h.dtype);
  std::memcpy(out, kScoreMagic, 8);
  std::memcpy(out + 8, &h.version, 4);
  std::memcpy(out + 12, &dtype, 4);
  std::memcpy(out + 16, &h.n_scores, 8);
  std::memcpy(out + 24, &h.shard_fingerprint, 8);
  std::memcpy(out + 32, &h.model_fingerprint, 8);
  std::memcpy(out + 40, &h.seq_len, 4);
  std::memcpy(out + 44, &h.ref_tokenizer_fingerprint, 8);
}

uint64_t score_file_bytes(const ScoreHeader& h) { return kScoreHeaderBytes + h.n_scores * score_dtype_bytes(h.dtype); }

std::string score_path_for(const std::string& scores_dir, const std::string& shard_path) {
  return scores_dir + "/" + std::filesystem::path(shard_path).stem().string() + ".scores";
}

void write_score_file(const std::string& path, const ScoreHeader& h, const float* scores) {
  unsigned char header[kScoreHeaderBytes];
  encode_score_header(h, header);
  write_file_atomic(path, [&](std::FILE* f) {
    fwrite_checked(f, header, sizeof header, path);
    std::vector<unsigned char> buf;
    constexpr size_t kChunk = 1 << 16;
    for (uint64_t i = 0; i < h.n_scores; i += kChunk) {
      const size_t n = size_t(std::min<uint64_t>(kChunk, h.n_scores - i));
      buf.resize(n * score_dtype_bytes(h.dtype));
      encode_scores(h.dtype, scores + i, n, buf.data());
      fwrite_checked(f, buf.data(), buf.size(), path);
    }
  });
}

std::shared_ptr<const ScoreFile> ScoreFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_file(path, std::string("cannot open score file: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail_file(path, std::string("cannot stat score file: ") + std::strerror(e));
  }
  const auto bytes = uint64_t(st.st_size);
  if (bytes < kScoreHeaderBytes) {
    ::close(fd);
    fail_file(path, "truncated score file (shorter than its 64-byte header)");
  }
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) fail_file(path, std::string("cannot map score file: ") + std::strerror(map_errno));
  // Owned from here, so a failed check below unmaps it.
  std::shared_ptr<ScoreFile> s(new ScoreFile());
  s->path_ = path;
  s->map_ = static_cast<const unsigned char*>(map);
  s->map_bytes_ = bytes;
  // Training reads windows in random order: no readahead of pages it will not use.
  ::madvise(map, bytes, MADV_RANDOM);

  const unsigned char* b = s->map_;
  if (std::memcmp(b, kScoreMagic, 8) != 0) fail_file(path, "not a score file (wrong magic)");
  auto& h = s->header_;
  uint32_t dtype;
  std::memcpy(&h.version, b + 8, 4);
  std::memcpy(&dtype, b + 12, 4);
  std::memcpy(&h.n_scores, b + 16, 8);
  std::memcpy(&h.shard_fingerprint, b + 24, 8);
  std::memcpy(&h.model_fingerprint, b + 32, 8);
  std::memcpy(&h.seq_len, b + 40, 4);
  std::memcpy(&h.ref_tokenizer_fingerprint, b + 44, 8);  // zero in every older file
  if (h.version != 1 && h.version != kScoreVersion)
    fail_file(path, "unsupported score file version " + std::to_string(h.version) + " (this rho reads 1 and 2)");
  if (dtype < 1 || dtype > 3 || (h.version == 1 && dtype != 1))
    fail_file(path, "unsupported score dtype " + std::to_string(dtype) + " in a version " +
                        std::to_string(h.version) + " file");
  h.dtype = ScoreDtype(dtype);
  const size_t width = score_dtype_bytes(h.dtype);
  if (h.n_scores > (bytes - kScoreHeaderBytes) / width || bytes != kScoreHeaderBytes + h.n_scores * width)
    fail_file(path, "file size " + std::to_string(bytes) + " does not match its " + std::to_string(h.n_scores) +
                        " " + to_string(h.dtype) + " scores (truncated or padded)");
  return s;
}

ScoreFile::~ScoreFile() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_bytes_);
}

void ScoreFile::read(uint64_t start, uint64_t n, float* out) const {
  if (start > size() || n > size() - start)
    fail_file(path_, "scores " + std::to_string(start) + ".." + std::to_string(start + n) + " run past its " +
                         std::to_string(size()) + " scores");
  const size_t width = score_dtype_bytes(header_.dtype);
  decode_scores(header_.dtype, map_ + kScoreHeaderBytes + start * width, size_t(n), out);
  // Read once per window: the pages go back to the page cache (data/shard.h, release()).
  release_mapped(map_, map_bytes_, kScoreHeaderBytes + start * width, kScoreHeaderBytes + (start + n) * width);
}

std::vector<float> ScoreFile::read_all() const {
  std::vector<float> v(size());
  read(0, size(), v.data());
  return v;
}

}  // namespace rho
