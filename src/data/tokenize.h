// text / JSONL -> token shards.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/documents.h"

namespace rho {

struct TokenizeOptions {
  std::string tokenizer;             // sentencepiece .model
  std::vector<std::string> inputs;   // text or JSONL files
  std::string out_dir;               // shards written as <out_dir>/<name>_000000.bin, ...
  std::string name = "shard";
  uint64_t shard_tokens = 50'000'000;  // a shard is closed after the document that crosses this
  bool bos = false;                  // prepend BOS to each document (EOS always follows it)
};

struct TokenizeStats {
  std::vector<std::string> shards;
  uint64_t documents = 0;
  uint64_t tokens = 0;
};

// Shows progress on stderr (documents, tokens, tokens/s).
TokenizeStats tokenize_to_shards(const TokenizeOptions& opts, const DocFormat& format);

}  // namespace rho
