#include "model/model_use.h"

#include <cstdio>

#include "common/error.h"
#include "common/fileio.h"
#include "model/io.h"

namespace rho {

void check_model_use(const std::string& dir, const LlamaConfig& config, const TokenizerId& recorded,
                     const ModelUse& use) {
  const TokenizerId& tok = use.tokenizer;
  if (tok.vocab_size > config.vocab_size)
    fail_file(dir, use.role + " has vocab_size " + std::to_string(config.vocab_size) + ", smaller than the " +
                       std::to_string(tok.vocab_size) + " ids of tokenizer " + hex64(tok.fingerprint) + " (" +
                       tok.source + ")");
  if (recorded.fingerprint == 0) {
    if (!use.allow_unrecorded_tokenizer)
      fail_file(dir, use.role + " records no tokenizer (no rho.json, tokenizer.json or tokenizer.model), so "
                     "rho cannot check that it was trained with " + tok.source +
                     "; pass --allow-unrecorded-tokenizer to use it anyway");
    std::fprintf(stderr,
                 "rho: warning: %s: %s records no tokenizer; --allow-unrecorded-tokenizer: not checked that it "
                 "was trained with %s (only that its vocabulary of %lld holds the tokenizer's %lld ids)\n",
                 dir.c_str(), use.role.c_str(), tok.source.c_str(), (long long)config.vocab_size,
                 (long long)tok.vocab_size);
  } else if (recorded.fingerprint != tok.fingerprint) {
    fail_file(dir, use.role + " was trained with tokenizer " + hex64(recorded.fingerprint) + " (" + recorded.source +
                       "), not " + hex64(tok.fingerprint) + " (" + tok.source + ")");
  }
  if (use.seq_len > config.max_position_embeddings)
    fail_file(dir, use.role + ": --seq-len " + std::to_string(use.seq_len) + " exceeds its max_position_embeddings " +
                       std::to_string(config.max_position_embeddings));
}

LlamaForCausalLM load_model_for(const std::string& dir, const ModelUse& use) {
  if (!file_exists(dir)) fail_file(dir, use.role + " directory does not exist");
  check_model_use(dir, load_config(dir + "/config.json"), read_tokenizer_record(dir), use);
  return load_model(dir);
}

}  // namespace rho
