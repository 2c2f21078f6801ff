// Whether a model may meet given data or a tokenizer: every such rule in one place.
//   - Tokenizer: a model directory records the tokenizer it was trained with (rho.json beside
//     config.json, written by rho; Hugging Face ignores it), or carries its tokenizer file as HF
//     checkpoints do (tokenizer.json / tokenizer.model). It must be the data's tokenizer: two
//     tokenizers with the same vocabulary size give different ids to the same text, and nothing
//     downstream would notice. A model with no record is refused unless the user says
//     otherwise (--allow-unrecorded-tokenizer), and then a warning says what was not checked.
//   - Vocabulary: the model's vocab_size is at least the tokenizer's (HF models often pad it to
//     a multiple of 64), never smaller.
//   - Positions: windows of T predictions fit the model's max_position_embeddings.
#pragma once
#include <string>

#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace rho {

// What a model is about to be used with.
struct ModelUse {
  std::string role = "model";  // "--init-from", "reference model", ...: named in messages
  TokenizerId tokenizer;       // of the shards, or of the tokenizer given
  int64_t seq_len = 0;         // T; 0: not checked (generation keeps its own budget)
  bool allow_unrecorded_tokenizer = false;
};

// UserError naming the model directory and the rule broken. `recorded`: what the directory
// records of its tokenizer (read_tokenizer_record).
void check_model_use(const std::string& model_dir, const LlamaConfig& config, const TokenizerId& recorded,
                     const ModelUse& use);

// Loads a model directory for `use`: its config and tokenizer record are checked before the
// weights are read.
LlamaForCausalLM load_model_for(const std::string& model_dir, const ModelUse& use);

}  // namespace rho
