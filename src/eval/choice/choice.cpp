#include "eval/choice/choice.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"
#include "common/py_random.h"
#include "data/documents.h"
#include "eval/bos.h"
#include "common/pytext.h"
#include "measure/token_losses.h"
#include "model/model_use.h"
#include "tokenizer/tokenizer.h"

namespace rho {
namespace {

using nlohmann::json;

// A JSONL file's items, with the records they were read from (lm-eval leaves an item out of its
// own few-shot examples by comparing records).
struct ChoiceSet {
  std::vector<ChoiceDoc> docs;
  std::vector<json> records;
};

ChoiceSet read_docs(const std::string& path, std::string& format, int64_t limit) {
  ChoiceSet set;
  for_each_record(path, [&](const json& r, int64_t line) {
    if (limit > 0 && int64_t(set.docs.size()) >= limit) return;
    if (format == "auto") {
      format = detect_choice_format(r);
      if (format.empty())
        fail_file(path, "line " + std::to_string(line) + ": fields fit none of the known formats; give --format");
    }
    set.docs.push_back(parse_choice_record(format, r, path, line));
    set.records.push_back(r);
  });
  return set;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec);
}

std::vector<std::string> fewshot_prefixes(const ChoiceOptions& o, const std::string& format, const ChoiceSet& items) {
  std::vector<std::string> prefixes(items.docs.size());
  if (o.shots <= 0) return prefixes;
  std::string shot_format = format;
  const ChoiceSet shots = read_docs(o.shots_from, shot_format, 0);
  const auto picks = fewshot_picks(format, items.records, shots.records, o.shots, same_file(o.shots_from, o.data),
                                   o.shots_from);
  for (size_t i = 0; i < picks.size(); ++i)
    for (size_t s : picks[i]) prefixes[i] += choice_example(shots.docs[s]) + "\n\n";
  return prefixes;
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

std::vector<std::vector<size_t>> fewshot_picks(const std::string& format, const std::vector<json>& items,
                                               const std::vector<json>& shots, int k, bool same_split,
                                               const std::string& shots_file) {
  std::vector<std::vector<size_t>> picks(items.size());
  const size_t draw = size_t(k) + (same_split ? 1 : 0);
  py::Random rnd(1234);  // lm-eval's default --fewshot_random_seed
  for (size_t i = 0; i < items.size() && k > 0; ++i) {
    std::vector<size_t> drawn;
    if (format == "mmlu") {
      const json subject = items[i].value("subject", json());
      for (size_t s = 0; s < shots.size() && drawn.size() < draw; ++s)
        if (subject.is_null() || shots[s].value("subject", json()) == subject) drawn.push_back(s);
      if (drawn.size() < draw)
        fail_file(shots_file, "has " + std::to_string(drawn.size()) + " items of subject " + subject.dump() +
                                  ", fewer than the " + std::to_string(draw) + " the few-shot examples need");
    } else {
      if (shots.size() < draw)
        fail_file(shots_file, "has " + std::to_string(shots.size()) + " items, fewer than the " + std::to_string(draw) +
                                  " the few-shot draw needs");
      for (uint64_t s : rnd.sample(shots.size(), draw)) drawn.push_back(size_t(s));
    }
    // `[x for x in fewshotex if x != doc][:num_fewshot]`
    for (size_t s : drawn)
      if (picks[i].size() < size_t(k) && shots[s] != items[i]) picks[i].push_back(s);
  }
  return picks;
}

std::vector<ChoiceRow> run_choice_eval(const ChoiceOptions& o) {
  if (o.models.empty()) fail("no --model given");
  if (!o.labels.empty() && o.labels.size() != o.models.size()) fail("give one --label per --model, or none");
  if (o.format != "auto" && std::find(choice_formats().begin(), choice_formats().end(), o.format) == choice_formats().end())
    fail("unknown --format \"" + o.format + "\"");
  if (o.shots > 0 && o.shots_from.empty()) fail("--shots needs --shots-from (the file few-shot examples come from)");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  std::string why;
  const bool bos = resolve_bos(o.bos, tok, o.models[0], &why);
  if (bos && tok.bos_id() < 0) fail_file(o.tokenizer, "has no BOS token, but " + why + " asks for one");

  std::string format = o.format;
  const ChoiceSet items = read_docs(o.data, format, o.limit);
  const std::vector<ChoiceDoc>& docs = items.docs;
  const auto prefixes = fewshot_prefixes(o, format, items);  // each followed by a blank line
  std::vector<ScoredSequence> seqs;
  std::vector<size_t> first_seq;  // docs[i]'s choices are seqs[first_seq[i] ...]
  for (size_t i = 0; i < docs.size(); ++i) {
    first_seq.push_back(seqs.size());
    const ChoiceDoc& d = docs[i];
    for (size_t c = 0; c < d.contexts.size(); ++c)
      seqs.push_back(encode_pair(tok, d.description + prefixes[i] + d.contexts[c], d.continuations[c], bos,
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
