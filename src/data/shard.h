// Token shards: the binary files that tokenized corpora live in.
//
// Format, version 2, little-endian, a 64-byte header then the tokens:
//   offset  size  field
//        0     8  magic "RHOTOKS1"
//        8     4  version = 2
//       12     4  token_bytes: 2 (uint16, vocab <= 65536) or 4 (uint32)
//       16     8  n_tokens
//       24     8  tokenizer fingerprint (Tokenizer::fingerprint())
//       32     4  vocab_size
//       36     4  eos_id
//       40     8  content fingerprint (content_fingerprint() below), computed when written
//       48    16  reserved, zero
//       64     .  n_tokens tokens of token_bytes each
// Documents are separated by eos_id (each document is followed by one EOS token).
//
// Version 1 is the same without the content fingerprint (bytes 40-47 zero); it is still read,
// and its fingerprint is computed from the tokens when first asked for.
//
// Opening a shard reads only its header: at paper scale (14B tokens) a scan of every token at
// start-up would read tens of gigabytes on every rank. Token ids are checked against the
// vocabulary as they are read (read()), so a damaged token still never reaches an embedding.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace rho {

struct ShardHeader {
  uint32_t version = 2;
  uint32_t token_bytes = 2;
  uint64_t n_tokens = 0;
  uint64_t tokenizer_fingerprint = 0;
  uint32_t vocab_size = 0;
  uint32_t eos_id = 0;
  uint64_t content_fingerprint = 0;  // version 2; 0 in version 1
};
constexpr size_t kShardHeaderBytes = 64;
constexpr uint32_t kShardVersion = 2;

// Streams tokens into `path` through a temporary file renamed on finish(): a shard on disk is
// always complete. Destroying an unfinished writer removes the temporary. finish() reads the
// tokens back once to store their content fingerprint (its definition starts with n_tokens,
// known only then), so no reader ever needs to scan them.
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

// A memory-mapped shard. Its header is checked on open: magic, version, token width, vocab and
// EOS, file size matching n_tokens exactly (a truncated shard is refused).
// UserError "<path>: <problem>" otherwise.
class Shard {
 public:
  static std::shared_ptr<Shard> open(const std::string& path);
  ~Shard();
  const ShardHeader& header() const { return header_; }
  uint64_t size() const { return header_.n_tokens; }
  // Tokens [start, start + n) into out, each checked to be < vocab_size (UserError naming the
  // shard and the position otherwise). start + n must be <= size().
  void read(uint64_t start, uint64_t n, int64_t* out) const;
  // Hands the pages holding tokens [start, start + n) back to the page cache (madvise): a mapped
  // page counts in the process's resident memory for as long as it stays mapped, so a run that
  // reads a 14B-token corpus would otherwise end up holding all of it. Reading them again
  // costs a minor fault.
  void release(uint64_t start, uint64_t n) const;
  // Token i, unchecked: only for code that checks it itself.
  int32_t token(uint64_t i) const {
    return header_.token_bytes == 2 ? int32_t(reinterpret_cast<const uint16_t*>(data_)[i])
                                    : int32_t(reinterpret_cast<const uint32_t*>(data_)[i]);
  }
  // What score files record to know they belong to this shard's content: fnv1a64 over n_tokens,
  // the tokenizer fingerprint and every token as int32 (so the token width does not matter).
  // Version 2: from the header. Version 1: computed by one pass over the tokens, once.
  uint64_t content_fingerprint() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  ShardHeader header_;
  const unsigned char* map_ = nullptr;  // whole file
  size_t map_bytes_ = 0;
  const unsigned char* data_ = nullptr;  // map_ + kShardHeaderBytes
  mutable std::once_flag fingerprint_once_;
  mutable uint64_t fingerprint_ = 0;
};

// The content fingerprint of tokens given as int32 blocks (the one definition; ShardWriter and
// Shard both use it). Feed n_tokens and the tokenizer fingerprint first, then the tokens.
uint64_t shard_fingerprint_start(uint64_t n_tokens, uint64_t tokenizer_fingerprint);
uint64_t shard_fingerprint_add(uint64_t fp, const int32_t* tokens, size_t n);

// madvise(MADV_DONTNEED) of the whole pages around bytes [begin, end) of a read-only mapping
// (shards, score files): they leave this process's resident set, not the page cache.
void release_mapped(const unsigned char* map, size_t map_bytes, uint64_t begin, uint64_t end);

// The copy of its tokenizer that `rho tokenize` leaves beside the shards it writes, so that what
// is trained on them can carry the tokenizer itself (model directories rho writes hold its files,
// not only its fingerprint): <shard directory>/tokenizer-<fingerprint, 16 hex digits>/, holding
// tokenizer.model or tokenizer.json and the tokenizer_config.json that was beside it.
std::string tokenizer_copy_dir(const std::string& shard_dir, uint64_t fingerprint);
// The files of tokenizer `fingerprint` from such a copy beside any of `shard_paths`; null when
// there is none (shards written before rho kept one, or moved without it). UserError naming the
// copy when it holds another tokenizer.
std::shared_ptr<const TokenizerFiles> tokenizer_beside(const std::vector<std::string>& shard_paths,
                                                       uint64_t fingerprint);

// Expands a shard argument: a directory (its *.bin files, sorted), or a file.
// UserError when nothing is found.
std::vector<std::string> list_shards(const std::string& path_or_dir);
// The shard files of several such arguments, in argument order.
std::vector<std::string> list_shards(const std::vector<std::string>& paths_or_dirs);

}  // namespace rho
