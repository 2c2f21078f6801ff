#include "eval/loss/loss_eval.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "model/model_use.h"

namespace rho {

std::vector<LossRow> run_loss_eval(const LossEvalOptions& o) {
  if (o.data.empty()) fail("no --data sets given");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  EvalSetOptions so = o.set;
  if (so.seq_len <= 0) so.seq_len = load_config(o.model + "/config.json").max_position_embeddings;
  auto model = load_model_for(o.model, {"model", tok.id(), so.seq_len, o.allow_unrecorded_tokenizer});
  prepare_for_inference(*model, o.eval.compute);

  std::vector<LossRow> rows;
  for (const auto& path : o.data) {
    const EvalSet set = load_eval_set(path, tok, so);
    const auto losses = sequence_losses(model, set.sequences, o.eval);
    double sum = 0;
    for (float l : losses) sum += l;
    LossRow r;
    r.path = path;
    r.kind = set.kind;
    r.sequences = int64_t(set.sequences.size());
    r.tokens = int64_t(losses.size());
    r.loss = sum / double(std::max<size_t>(1, losses.size()));
    r.perplexity = std::exp(r.loss);
    r.truncated = set.truncated;
    rows.push_back(r);
  }
  if (!o.json_out.empty()) {
    nlohmann::json j = {{"model", o.model}, {"tokenizer", o.tokenizer}, {"seq_len", so.seq_len},
                        {"answer_only", so.answer_only}, {"sets", nlohmann::json::array()}};
    for (auto& r : rows)
      j["sets"].push_back({{"set", r.path}, {"kind", r.kind}, {"sequences", r.sequences}, {"tokens", r.tokens},
                           {"loss", r.loss}, {"perplexity", r.perplexity}});
    write_file_atomic(o.json_out, j.dump(2) + "\n");
  }
  return rows;
}

}  // namespace rho
