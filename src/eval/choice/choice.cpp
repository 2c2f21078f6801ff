#include "eval/choice/choice.h"

#include <chrono>
#include <cstdio>

#include "common/error.h"
#include "common/fileio.h"
#include "data/documents.h"
#include "eval/bos.h"
#include "common/pytext.h"
#include "measure/token_losses.h"
#include "model/model_use.h"
#include "tokenizer/tokenizer.h"

namespace rho {
namespace {

using nlohmann::json;

std::vector<ChoiceDoc> read_docs(const std::string& path, std::string& format, int64_t limit) {
  std::vector<ChoiceDoc> docs;
  for_each_record(path, [&](const json& r, int64_t line) {
    if (limit > 0 && int64_t(docs.size()) >= limit) return;
    if (format == "auto") {
      format = detect_choice_format(r);
      if (format.empty())
        fail_file(path, "line " + std::to_string(line) + ": fields fit none of the known formats; give --format");
    }
    docs.push_back(parse_choice_record(format, r, path, line));
  });
  return docs;
}

// A choice's tokens as the harness's _encode_pair makes them: the continuation is what encoding
// context + continuation adds beyond the context's own encoding.
ScoredSequence encode_pair(const Tokenizer& tok, std::string context, std::string continuation, bool bos,
                         const std::string& where) {
  const size_t kept = py::rstrip(context).size();
  continuation = context.substr(kept) + continuation;
  context.resize(kept);
  std::vector<int32_t> ctx, cont;
  if (context.empty()) {
    ctx = {tok.bos_id() >= 0 ? tok.bos_id() : tok.eos_id()};
    cont = tok.encode(continuation);
  } else {
    ctx = tok.encode(context);
    const auto whole = tok.encode(context + continuation);
    cont.assign(whole.begin() + int64_t(std::min(ctx.size(), whole.size())), whole.end());
    if (bos) ctx.insert(ctx.begin(), tok.bos_id());
  }
  if (cont.empty()) fail(where + ": the continuation \"" + continuation + "\" encodes to no tokens of its own");
  ScoredSequence s;
  s.tokens = ctx;
  s.tokens.insert(s.tokens.end(), cont.begin(), cont.end());
  s.first_scored = int64_t(ctx.size());
  return s;
}

// The sequence cut to the model's positions (P + 1 tokens, the end kept).
ScoredSequence fit(const ScoredSequence& s, int64_t positions) {
  const int64_t cut = int64_t(s.tokens.size()) - (positions + 1);
  if (cut <= 0) return s;
  ScoredSequence t;
  t.tokens.assign(s.tokens.begin() + cut, s.tokens.end());
  t.first_scored = std::max<int64_t>(1, s.first_scored - cut);
  return t;
}

size_t argmax(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t k = 1; k < v.size(); ++k)
    if (v[k] > v[best]) best = k;  // ties: the first, as numpy's argmax
  return best;
}

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", 100 * v);
  return b;
}

// Each item's prediction from its choices' losses (acc: the highest log-likelihood; acc_norm:
// per character of the choice), counted into `row`; returns the records (one JSON line each).
std::string grade_items(const std::vector<ChoiceDoc>& docs, const std::vector<size_t>& first_seq,
                        const std::vector<std::vector<float>>& losses, ChoiceRow& row) {
  std::string records;
  for (size_t i = 0; i < docs.size(); ++i) {
    const ChoiceDoc& d = docs[i];
    std::vector<double> ll, norm;
    std::vector<int64_t> lengths;
    for (size_t c = 0; c < d.contexts.size(); ++c) {
      double sum = 0;
      for (float l : losses[first_seq[i] + c]) sum -= l;
      row.tokens += int64_t(losses[first_seq[i] + c].size());
      const int64_t len = std::max<int64_t>(1, int64_t(py::length(d.choices[c])));
      ll.push_back(sum);
      lengths.push_back(len);
      norm.push_back(sum / double(len));
    }
    const size_t pred = argmax(ll), pred_norm = argmax(norm);
    row.correct += pred == size_t(d.gold);
    row.correct_norm += pred_norm == size_t(d.gold);
    records += json({{"index", i}, {"gold", d.gold}, {"pred", pred}, {"pred_norm", pred_norm}, {"ll", ll},
                     {"lengths", lengths}})
                   .dump() + "\n";
  }
  return records;
}

// results.md (one row per model) and results.json.
void write_results(const ChoiceOptions& o, const std::string& format, bool bos, const std::string& why, int64_t choices,
                   const std::vector<ChoiceRow>& rows) {
  std::string md = "Multiple choice, " + o.data + " (" + format + ", " + std::to_string(o.shots) + "-shot" +
                   (bos ? ", BOS" : "") + "):\n\n| model | items | acc (%) | 95% CI | acc_norm (%) | 95% CI |\n"
                   "|---|---:|---:|---|---:|---|\n";
  json jr = json::array();
  for (size_t m = 0; m < rows.size(); ++m) {
    const auto& r = rows[m];
    md += "| " + r.label + " | " + std::to_string(r.items) + " | " + pct(r.acc) + " | " + pct(r.ci.lo) + "-" +
          pct(r.ci.hi) + " | " + pct(r.acc_norm) + " | " + pct(r.ci_norm.lo) + "-" + pct(r.ci_norm.hi) + " |\n";
    jr.push_back({{"model", r.model}, {"label", r.label}, {"items", r.items}, {"acc", r.acc},
                  {"acc_ci95", {r.ci.lo, r.ci.hi}}, {"acc_norm", r.acc_norm}, {"acc_norm_ci95", {r.ci_norm.lo, r.ci_norm.hi}},
                  {"tokens_scored", r.tokens}, {"seconds", r.seconds}, {"records", "records-" + std::to_string(m) + ".jsonl"}});
  }
  write_file_atomic(o.out_dir + "/results.md", md);
  json j = {{"data", o.data}, {"format", format}, {"shots", o.shots}, {"shots_from", o.shots_from}, {"bos", bos},
            {"bos_rule", why}, {"tokenizer", o.tokenizer}, {"choices", choices}, {"rows", jr}};
  write_file_atomic(o.out_dir + "/results.json", j.dump(2) + "\n");
}

}  // namespace

std::vector<ChoiceRow> run_choice_eval(const ChoiceOptions& o) {
  if (o.models.empty()) fail("no --model given");
  if (!o.labels.empty() && o.labels.size() != o.models.size()) fail("give one --label per --model, or none");
  if (o.format != "auto" && std::find(choice_formats().begin(), choice_formats().end(), o.format) == choice_formats().end())
    fail("unknown --format \"" + o.format + "\"");
  if (o.shots > 0 && o.shots_from.empty()) fail("--shots needs --shots-from (the file few-shot examples come from)");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  std::string why;
  const bool bos = resolve_bos(o.bos, o.tokenizer, o.models[0], &why);
  if (bos && tok.bos_id() < 0) fail_file(o.tokenizer, "has no BOS token, but " + why + " asks for one");

  std::string format = o.format;
  const auto docs = read_docs(o.data, format, o.limit);
  std::string prefix;  // few-shot examples, each followed by a blank line
  if (o.shots > 0) {
    std::string shot_format = format;
    const auto shots = read_docs(o.shots_from, shot_format, o.shots);
    if (int64_t(shots.size()) < o.shots)
      fail_file(o.shots_from, "has " + std::to_string(shots.size()) + " items, fewer than --shots " + std::to_string(o.shots));
    for (const auto& s : shots) prefix += choice_example(s) + "\n\n";
  }
  std::vector<ScoredSequence> seqs;
  std::vector<size_t> first_seq;  // docs[i]'s choices are seqs[first_seq[i] ...]
  for (size_t i = 0; i < docs.size(); ++i) {
    first_seq.push_back(seqs.size());
    const ChoiceDoc& d = docs[i];
    for (size_t c = 0; c < d.contexts.size(); ++c)
      seqs.push_back(encode_pair(tok, d.description + prefix + d.contexts[c], d.continuations[c], bos,
                                 o.data + ": item " + std::to_string(i) + ", choice " + std::to_string(c)));
  }
  make_dirs(o.out_dir);

  std::vector<ChoiceRow> rows;
  MeasureOptions eval;
  eval.batch = o.batch;
  eval.compute = o.compute;
  eval.head = o.head;
  for (size_t m = 0; m < o.models.size(); ++m) {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = load_model_for(o.models[m], {"model", tok.id(), 0, o.allow_unrecorded_tokenizer});
    model->eval();
    prepare_for_inference(*model, o.compute);
    // One group per item: its choices share the context's tokens, which run once.
    std::vector<std::vector<ScoredSequence>> groups(docs.size());
    for (size_t i = 0; i < docs.size(); ++i)
      for (size_t c = 0; c < docs[i].contexts.size(); ++c)
        groups[i].push_back(fit(seqs[first_seq[i] + c], model->config.max_position_embeddings));
    const auto losses = shared_prefix_losses(model, groups, eval);
    ChoiceRow row;
    row.model = o.models[m];
    row.label = o.labels.empty() ? o.models[m] : o.labels[m];
    const std::string records = grade_items(docs, first_seq, losses, row);
    row.items = int64_t(docs.size());
    row.acc = double(row.correct) / double(std::max<int64_t>(1, row.items));
    row.acc_norm = double(row.correct_norm) / double(std::max<int64_t>(1, row.items));
    row.ci = wilson_interval(row.correct, row.items);
    row.ci_norm = wilson_interval(row.correct_norm, row.items);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_file_atomic(o.out_dir + "/records-" + std::to_string(m) + ".jsonl", records);
    std::fprintf(stderr, "choice %s: acc %s%% acc_norm %s%% over %lld items, %lld choices, %lld tokens scored in %.1f s\n",
                 row.label.c_str(), pct(row.acc).c_str(), pct(row.acc_norm).c_str(), (long long)row.items,
                 (long long)seqs.size(), (long long)row.tokens, row.seconds);
    rows.push_back(row);
  }

  write_results(o, format, bos, why, int64_t(seqs.size()), rows);
  return rows;
}

}  // namespace rho
