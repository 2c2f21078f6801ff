#include "eval/loss_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "data/loader.h"
#include "data/shard.h"
#include "eval/generate.h"

namespace rho {
namespace {

bool is_shard_set(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return true;
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".bin") == 0;
}

// Cuts a token stream into windows of T+1 tokens at stride T (training's packing); the tail is
// kept as a shorter window when it holds at least one prediction.
void add_windows(const std::vector<int32_t>& stream, int64_t T, EvalSet& set, int64_t max_tokens) {
  for (size_t start = 0; start + 1 < stream.size(); start += size_t(T)) {
    if (max_tokens > 0 && set.scored_tokens >= max_tokens) return;
    const size_t end = std::min(stream.size(), start + size_t(T) + 1);
    EvalSequence s;
    s.tokens.assign(stream.begin() + start, stream.begin() + end);
    set.scored_tokens += s.scored();
    set.sequences.push_back(std::move(s));
  }
}

void load_shards(const std::string& path, const Tokenizer& tok, const EvalSetOptions& o, EvalSet& set) {
  PackedDataset data(list_shards(path), o.seq_len, tok.fingerprint());
  std::vector<int64_t> inputs(size_t(o.seq_len)), targets(size_t(o.seq_len));
  for (int64_t w = 0; w < data.num_windows(); ++w) {
    if (o.max_tokens > 0 && set.scored_tokens >= o.max_tokens) break;
    data.read_window(data.window_in_order(w), inputs.data(), targets.data());
    EvalSequence s;
    s.tokens.assign(inputs.begin(), inputs.end());
    s.tokens.push_back(int32_t(targets.back()));
    set.scored_tokens += s.scored();
    set.sequences.push_back(std::move(s));
  }
}

void load_documents(const std::string& path, const Tokenizer& tok, const EvalSetOptions& o, EvalSet& set) {
  if (tok.eos_id() < 0) fail_file(tok.path(), "tokenizer has no EOS token to separate documents");
  std::vector<int32_t> stream;
  // Tokenize only as much as max_tokens needs (a large corpus stays cheap to sample).
  const size_t enough = o.max_tokens > 0 ? size_t(o.max_tokens) + size_t(o.max_tokens) / size_t(o.seq_len) + 2 : 0;
  for_each_document(path, o.format, [&](const std::string& text) {
    if (enough > 0 && stream.size() >= enough) return;
    auto ids = tok.encode(text);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(tok.eos_id());
  });
  add_windows(stream, o.seq_len, set, o.max_tokens);
}

// Question/answer records: the answer's tokens, scored given `Question: {q}\nAnswer:`.
void load_qa(const std::string& path, const Tokenizer& tok, const EvalSetOptions& o, EvalSet& set) {
  const auto questions = read_jsonl_field(path, o.question_field);
  const auto answers = read_jsonl_field(path, o.answer_field);
  for (size_t i = 0; i < questions.size(); ++i) {
    if (o.max_tokens > 0 && set.scored_tokens >= o.max_tokens) break;
    const std::string prefix = "Question: " + questions[i] + "\nAnswer:";
    // The whole text is encoded at once (as training saw it); the answer starts at the first token
    // that differs from the prefix's own encoding, so a piece straddling the boundary counts as
    // answer.
    const auto p = tok.encode(prefix);
    EvalSequence s;
    s.tokens = tok.encode(prefix + " " + answers[i]);
    size_t common = 0;
    while (common < p.size() && common < s.tokens.size() && p[common] == s.tokens[common]) ++common;
    s.first_scored = std::max<int64_t>(1, int64_t(common));
    if (s.first_scored >= int64_t(s.tokens.size())) continue;  // an empty answer: nothing to score
    // Longer than the model's positions: cut the question's start, keep the answer.
    const int64_t cap = o.seq_len + 1;
    if (int64_t(s.tokens.size()) > cap) {
      const int64_t cut = int64_t(s.tokens.size()) - cap;
      s.tokens.erase(s.tokens.begin(), s.tokens.begin() + cut);
      s.first_scored = std::max<int64_t>(1, s.first_scored - cut);
      ++set.truncated;
    }
    set.scored_tokens += s.scored();
    set.sequences.push_back(std::move(s));
  }
}

}  // namespace

EvalSet load_eval_set(const std::string& path, const Tokenizer& tok, const EvalSetOptions& o) {
  if (o.seq_len < 1) fail("--seq-len must be at least 1");
  EvalSet set;
  set.path = path;
  if (is_shard_set(path)) {
    set.kind = "shards";
    load_shards(path, tok, o, set);
  } else if (o.answer_only) {
    if (!is_jsonl_path(path)) fail_file(path, "--answer-only needs a JSONL file (.jsonl) with question and answer fields");
    set.kind = "qa";
    load_qa(path, tok, o, set);
  } else {
    set.kind = is_jsonl_path(path) ? "jsonl" : "text";
    load_documents(path, tok, o, set);
  }
  if (set.scored_tokens == 0) fail_file(path, "no tokens to score");
  return set;
}

std::vector<float> scored_losses(LlamaForCausalLM& model, const std::vector<EvalSequence>& seqs, int64_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<float> out;
  const int64_t vocab = model->config.vocab_size;
  size_t i = 0;
  while (i < seqs.size()) {
    // A run of equal-length sequences (no padding: our attention has no mask).
    size_t j = i + 1;
    while (j < seqs.size() && int64_t(j - i) < batch && seqs[j].tokens.size() == seqs[i].tokens.size()) ++j;
    const int64_t B = int64_t(j - i), n = int64_t(seqs[i].tokens.size());
    std::vector<int64_t> flat;
    flat.reserve(size_t(B * n));
    for (size_t k = i; k < j; ++k)
      for (int32_t t : seqs[k].tokens) {
        if (t < 0 || t >= vocab)
          fail("token id " + std::to_string(t) + " is outside the model's vocabulary of " + std::to_string(vocab));
        flat.push_back(t);
      }
    auto ids = torch::tensor(flat, torch::kInt64).view({B, n});                     // (B, n)
    auto inputs = ids.slice(1, 0, n - 1), targets = ids.slice(1, 1, n);             // (B, n-1)
    auto losses = per_token_loss(model->forward(inputs), targets).contiguous();     // (B, n-1)
    const float* l = losses.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      // Target position p (1-based in tokens) is column p - 1.
      const int64_t first = seqs[i + size_t(b)].first_scored;
      out.insert(out.end(), l + b * (n - 1) + (first - 1), l + (b + 1) * (n - 1));
    }
    i = j;
  }
  return out;
}

std::vector<LossRow> run_loss_eval(const LossEvalOptions& o) {
  if (o.data.empty()) fail("no --data sets given");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  auto model = load_model_for(o.model, tok);
  EvalSetOptions so = o.set;
  if (so.seq_len <= 0) so.seq_len = model->config.max_position_embeddings;
  if (so.seq_len > model->config.max_position_embeddings)
    fail("--seq-len " + std::to_string(so.seq_len) + " exceeds the model's max_position_embeddings " +
         std::to_string(model->config.max_position_embeddings) + " (" + o.model + "/config.json)");

  std::vector<LossRow> rows;
  for (const auto& path : o.data) {
    const EvalSet set = load_eval_set(path, tok, so);
    const auto losses = scored_losses(model, set.sequences, o.batch);
    double sum = 0;
    for (float l : losses) sum += l;
    LossRow r;
    r.path = path;
    r.kind = set.kind;
    r.sequences = int64_t(set.sequences.size());
    r.tokens = int64_t(losses.size());
    r.loss = sum / double(std::max<size_t>(1, losses.size()));
    r.perplexity = std::exp(r.loss);
    rows.push_back(r);
    if (set.truncated > 0)
      std::fprintf(stderr, "eval loss: %s: %lld records longer than %lld tokens lost the start of their question\n",
                   path.c_str(), (long long)set.truncated, (long long)(so.seq_len + 1));
  }

  size_t w = 3;
  for (auto& r : rows) w = std::max(w, r.path.size());
  std::printf("%-*s  %-6s  %9s  %11s  %8s  %10s\n", int(w), "set", "kind", "sequences", "tokens", "loss", "perplexity");
  for (auto& r : rows)
    std::printf("%-*s  %-6s  %9lld  %11lld  %8.4f  %10.3f\n", int(w), r.path.c_str(), r.kind.c_str(),
                (long long)r.sequences, (long long)r.tokens, r.loss, r.perplexity);
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
