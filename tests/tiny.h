// Tiny models and shards for tests: the debug preset at a test's vocabulary, and shards of given
// tokens. One place, so every test builds them alike.
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/shard.h"
#include "model/config.h"
#include "model/io.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "train/options.h"

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

// A shard of repeating, learnable patterns (counting sequences with noise) for vocab 97, in `dir`;
// returns `dir`.
inline std::string write_corpus(const std::string& dir, uint64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> toks;
  for (uint64_t i = 0; i < n; ++i) toks.push_back(rng() % 8 == 0 ? int32_t(rng() % 97) : int32_t(3 + i % 50));
  rho_test::write_shard(dir + "/corpus_000000.bin", toks, /*vocab=*/97, /*fingerprint=*/42);
  return dir;
}

// A few steps of the debug preset on `data` (write_corpus), written to `out`.
inline rho::TrainOptions small_run(const std::string& data, const std::string& out) {
  rho::TrainOptions o;
  o.preset = "debug";
  o.train_data = {data};
  o.val_data = {data};
  o.out_dir = out;
  o.seq_len = 16;
  o.micro_batch = 4;
  o.grad_accum = 2;
  o.optim.max_steps = 8;
  o.optim.warmup_steps = 2;
  o.optim.lr = 1e-2;
  o.val_every = 4;
  o.val_batches = 2;
  o.log_every = 100;
  o.keep_last = 0;
  return o;
}

}  // namespace rho_test
