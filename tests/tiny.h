// Tiny models and shards for tests: the debug preset at a test's vocabulary, and shards of given
// tokens. One place, so every test builds them alike.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/shard.h"
#include "model/config.h"
#include "model/io.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace rho_test {

// The debug preset (model/config.h) at vocabulary `vocab`, its weights drawn after
// torch::manual_seed(seed), recording `tokenizer` (none by default). `tied`: one table for the
// embedding and the head.
inline rho::LlamaForCausalLM tiny_model(int64_t vocab, uint64_t seed, rho::TokenizerId tokenizer = {},
                                        bool tied = false) {
  auto c = rho::preset("debug");
  c.vocab_size = vocab;
  c.tie_word_embeddings = tied;
  torch::manual_seed(seed);
  rho::LlamaForCausalLM m(c);
  m->tokenizer = std::move(tokenizer);
  return m;
}

// tiny_model saved as a model directory `dir`; returns `dir`.
inline std::string save_tiny_model(const std::string& dir, int64_t vocab, uint64_t seed,
                                   rho::TokenizerId tokenizer = {}) {
  auto m = tiny_model(vocab, seed, std::move(tokenizer));
  rho::save_model(dir, m);
  return dir;
}

// A shard of `tokens` at `path` (parent directories made), as rho tokenize writes one; returns
// `path`.
inline std::string write_shard(const std::string& path, const std::vector<int32_t>& tokens, uint32_t vocab,
                               uint64_t fingerprint, uint32_t eos = 2) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  rho::ShardWriter w(path, fingerprint, vocab, eos);
  w.append(tokens.data(), tokens.size());
  w.finish();
  return path;
}

}  // namespace rho_test
