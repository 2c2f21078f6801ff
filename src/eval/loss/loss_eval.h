// Held-out loss: mean per-token loss (nats) and perplexity of a model on evaluation sets
// (measure/eval_sets.h says what a set is and how it is cut).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "measure/eval_sets.h"

namespace rho {

struct LossEvalOptions {
  std::string model, tokenizer;
  std::vector<std::string> data;
  EvalSetOptions set;  // seq_len 0: the model's max_position_embeddings
  MeasureOptions eval;
  bool allow_unrecorded_tokenizer = false;  // model/model_use.h
  std::string json_out;  // also write the rows as JSON here ("" = no)
};

struct LossRow {
  std::string path, kind;
  int64_t sequences = 0, tokens = 0;
  double loss = 0, perplexity = 0;
  int64_t truncated = 0;  // answer-only records that lost the start of their question
};

// One row per set, in the order given.
std::vector<LossRow> run_loss_eval(const LossEvalOptions& opts);

}  // namespace rho
