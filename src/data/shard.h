// Token shards: the binary files that tokenized corpora live in.
//
// Format, version 1, little-endian, a 64-byte header then the tokens:
//   offset  size  field
//        0     8  magic "RHOTOKS1"
//        8     4  version = 1
//       12     4  token_bytes: 2 (uint16, vocab <= 65536) or 4 (uint32)
//       16     8  n_tokens
//       24     8  tokenizer fingerprint (Tokenizer::fingerprint())
//       32     4  vocab_size
//       36     4  eos_id
//       40    24  reserved, zero
//       64     .  n_tokens tokens of token_bytes each
// Documents are separated by eos_id (each document is followed by one EOS token).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rho {

struct ShardHeader {
  uint32_t version = 1;
  uint32_t token_bytes = 2;
  uint64_t n_tokens = 0;
  uint64_t tokenizer_fingerprint = 0;
  uint32_t vocab_size = 0;
  uint32_t eos_id = 0;
};
constexpr size_t kShardHeaderBytes = 64;

// Streams tokens into `path` through a temporary file renamed on finish(): a shard on disk is
// always complete. Destroying an unfinished writer removes the temporary.
class ShardWriter {
 public:
  ShardWriter(std::string path, uint64_t tokenizer_fingerprint, uint32_t vocab_size, uint32_t eos_id);
  ~ShardWriter();
  void append(const int32_t* tokens, size_t n);
  uint64_t size() const { return header_.n_tokens; }
  void finish();

 private:
  std::string path_, tmp_;
  ShardHeader header_;
  std::FILE* f_ = nullptr;
};

// A memory-mapped shard, validated on open: magic, version, token width, file size matching
// n_tokens exactly (a truncated shard is refused), every token < vocab_size.
// UserError "<path>: <problem>" otherwise.
class Shard {
 public:
  static std::shared_ptr<Shard> open(const std::string& path);
  ~Shard();
  const ShardHeader& header() const { return header_; }
  uint64_t size() const { return header_.n_tokens; }
  int32_t token(uint64_t i) const {
    return header_.token_bytes == 2 ? int32_t(reinterpret_cast<const uint16_t*>(data_)[i])
                                    : int32_t(reinterpret_cast<const uint32_t*>(data_)[i]);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  ShardHeader header_;
  const unsigned char* map_ = nullptr;  // whole file
  size_t map_bytes_ = 0;
  const unsigned char* data_ = nullptr;  // map_ + kShardHeaderBytes
};

// Expands a shard argument: a directory (its *.bin files, sorted), or a file.
// UserError when nothing is found.
std::vector<std::string> list_shards(const std::string& path_or_dir);
// The shard files of several such arguments, in argument order.
std::vector<std::string> list_shards(const std::vector<std::string>& paths_or_dirs);

}  // namespace rho
