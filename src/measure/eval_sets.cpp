#include "measure/eval_sets.h"

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"
#include "data/loader.h"
#include "data/shard.h"

namespace rho {
namespace {

bool is_shard_set(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return true;
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".bin") == 0;
}

// A token stream as windows (training's packing), the shorter tail kept.
void add_windows(const std::vector<int32_t>& stream, int64_t T, EvalSet& set, int64_t max_tokens) {
  for (const TokenSpan& w : cut_windows(stream.size(), T, /*keep_tail=*/true)) {
    if (max_tokens > 0 && set.scored_tokens >= max_tokens) return;
    ScoredSequence s;
    s.tokens.assign(stream.begin() + int64_t(w.start), stream.begin() + int64_t(w.end));
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
    ScoredSequence s;
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
    ScoredSequence s;
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

}  // namespace rho
