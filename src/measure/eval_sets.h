// Evaluation sets: the token sequences a held-out measurement is made of (shared by `rho eval
// loss` and the token-dynamics analysis).
//
// A set is one of
//   - token shards (a directory of .bin files or one .bin file): cut into windows exactly as
//     training's validation does (T+1 tokens at stride T, tails dropped), so the loss is
//     comparable with metrics.jsonl's val_loss at the same --seq-len;
//   - text or JSONL documents: tokenized like `rho tokenize` (no BOS, EOS after each document),
//     concatenated, and cut the same way, except that the last, shorter window is kept too;
//   - JSONL question/answer records (answer_only): each record is its own sequence
//     `Question: {q}\nAnswer: {a}`, and only the answer's tokens are scored, given the question.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/documents.h"
#include "measure/token_losses.h"
#include "tokenizer/tokenizer.h"

namespace rho {

struct EvalSetOptions {
  DocFormat format;  // text / JSONL documents (fields or template)
  bool answer_only = false;
  std::string question_field = "question", answer_field = "answer";
  int64_t seq_len = 256;   // T: predictions per window; answer-only records are cut to T + 1 tokens
  int64_t max_tokens = 0;  // stop once this many tokens are scored (0: the whole set)
};

struct EvalSet {
  std::string path;
  std::string kind;  // "shards" | "text" | "jsonl" | "qa"
  std::vector<ScoredSequence> sequences;
  int64_t scored_tokens = 0;
  int64_t truncated = 0;  // answer-only records longer than T + 1 tokens (their start was cut)
};

// UserError naming the file for a missing/empty file, an unknown JSONL field, shards made with
// another tokenizer, or a set with nothing to score.
EvalSet load_eval_set(const std::string& path, const Tokenizer& tok, const EvalSetOptions& opts);

}  // namespace rho
