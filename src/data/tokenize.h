// text / JSONL -> token shards.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/documents.h"

namespace rho {

struct TokenizeOptions {
  std::string tokenizer;             // sentencepiece .model
  std::vector<std::string> inputs;   // files, directories, globs (list_inputs); .gz/.zst are decompressed
  std::string out_dir;               // shards written as <out_dir>/<name>_000000.bin, ...
  std::string name = "shard";
  uint64_t shard_tokens = 50'000'000;  // a shard is closed after the document that crosses this
  bool bos = false;                  // prepend BOS to each document (EOS always follows it)
  int threads = 0;                   // encoding threads; 0: every core
  double progress_seconds = 2.0;     // a progress line on stderr this often
  size_t batch_bytes = 1 << 20;      // text per encoding task (tests make it small to get many)
};

struct TokenizeStats {
  std::vector<std::string> shards;
  uint64_t documents = 0;
  uint64_t tokens = 0;
  uint64_t text_bytes = 0;  // decompressed input
  double seconds = 0;
};

// One thread reads the documents in order, `threads` threads parse and encode batches of them,
// and the shards are written in document order: the shards are byte-identical whatever the
// thread count. Shows progress on stderr (MB/s of text, tokens/s, ETA).
TokenizeStats tokenize_to_shards(const TokenizeOptions& opts, const DocFormat& format);

}  // namespace rho
