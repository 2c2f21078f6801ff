#include "eval/fewshot.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "data/documents.h"
#include "eval/generate.h"
#include "model/compat.h"
#include "tokenizer/tokenizer.h"

namespace rho {

std::string fewshot_prompt(const std::vector<std::pair<std::string, std::string>>& shots,
                           const std::string& question) {
  std::string p;
  for (const auto& [q, a] : shots) p += "Question: " + q + "\nAnswer: " + a + "\n\n";
  return p + "Question: " + question + "\nAnswer:";
}

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * v);
  return buf;
}

}  // namespace

FewShotResult run_fewshot(const FewShotOptions& o) {
  if (o.shots < 0) fail("--shots must be >= 0");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  auto model = load_model_for(o.model, {"model", tok.id(), 0, o.allow_unrecorded_tokenizer});
  model->eval();
  prepare_for_inference(*model, o.compute);

  // Exemplars: the first k train records, or k drawn by a seeded shuffle (same seed, same shots).
  const auto train_q = read_jsonl_field(o.train, o.question_field);
  const auto train_a = read_jsonl_field(o.train, o.answer_field);
  if (int64_t(train_q.size()) < o.shots)
    fail_file(o.train, "has " + std::to_string(train_q.size()) + " records, fewer than --shots " + std::to_string(o.shots));
  std::vector<size_t> order(train_q.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (o.shot_seed != 0) {
    uint64_t state = o.shot_seed;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[splitmix64(state) % i]);
  }
  std::vector<std::pair<std::string, std::string>> shots;
  for (int k = 0; k < o.shots; ++k) {
    const size_t r = order[size_t(k)];
    shots.emplace_back(train_q[r], o.raw_shots ? strip_calculator(train_a[r]) : exemplar_answer(train_a[r]));
  }

  const auto test_q = read_jsonl_field(o.test, o.question_field);
  const auto test_a = read_jsonl_field(o.test, o.answer_field);
  const int64_t n = o.limit > 0 ? std::min<int64_t>(o.limit, int64_t(test_q.size())) : int64_t(test_q.size());
  make_dirs(o.out_dir);

  GenerateOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.temperature = 0;  // greedy, as in the paper
  g.stop = {"\n\nQuestion:", "\n\nProblem:"};

  FewShotResult res;
  std::map<std::string, int64_t> rules;
  std::vector<std::string> records;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto last_report = t0;
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  // A prompt that would not leave room for max_new_tokens within the model's positions loses
  // exemplars from the end (it stays well-formed); only a prompt still too long with no shots
  // at all is cut on the left by generate().
  const int64_t budget = prompt_budget(model->config.max_position_embeddings, o.max_new_tokens);
  int64_t shots_used_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    size_t k = shots.size();
    std::vector<std::pair<std::string, std::string>> used(shots.begin(), shots.end());
    std::string prompt = fewshot_prompt(used, test_q[size_t(i)]);
    std::vector<int32_t> ids = tok.encode(prompt);
    while (int64_t(ids.size()) > budget && k > 0) {
      used.resize(--k);
      prompt = fewshot_prompt(used, test_q[size_t(i)]);
      ids = tok.encode(prompt);
    }
    res.reduced_shots += k < shots.size();
    shots_used_sum += int64_t(k);
    const Generation gen = generate(model, tok, ids, g);
    const Extraction ex = extract_answer(gen.text);
    const std::string gold = gold_answer(test_a[size_t(i)]);
    const bool correct = !ex.answer.empty() && answers_match(ex.answer, gold);
    res.correct += correct;
    res.truncated_prompts += gen.prompt_truncated;
    ++rules[ex.rule];
    nlohmann::json r = {{"index", i},
                        {"question", test_q[size_t(i)]},
                        {"prompt", prompt},
                        {"output", gen.text},
                        {"extracted", ex.answer},
                        {"rule", ex.rule},
                        {"gold", gold},
                        {"correct", correct},
                        {"finish", gen.finish},
                        {"prompt_tokens", gen.prompt_tokens},
                        {"shots_used", int64_t(k)},
                        {"prompt_truncated", gen.prompt_truncated},
                        {"new_tokens", int64_t(gen.tokens.size())}};
    records.push_back(r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    // A progress line every 5 s (and for the first and last problem): long runs show their ETA.
    if (i == 0 || i + 1 == n || seconds_since(last_report) >= 5) {
      const double dt = seconds_since(t0), rate = double(i + 1) / std::max(dt, 1e-9);
      std::fprintf(stderr, "fewshot %lld/%lld | acc %s%% | %.2f problems/s | ETA %s\n", (long long)(i + 1),
                   (long long)n, percent(double(res.correct) / double(i + 1)).c_str(), rate,
                   format_duration(double(n - i - 1) / rate).c_str());
      last_report = Clock::now();
    }
  }
  res.problems = n;
  res.seconds = seconds_since(t0);
  res.accuracy = n > 0 ? double(res.correct) / double(n) : 0;
  res.ci = wilson_interval(res.correct, n);
  res.mean_shots = n > 0 ? double(shots_used_sum) / double(n) : 0;
  if (res.reduced_shots > 0)
    std::fprintf(stderr, "fewshot: warning: %lld of %lld prompts held fewer than %d shots (mean %.1f) to leave %lld new tokens "
                 "within the model's %lld positions\n", (long long)res.reduced_shots, (long long)n, o.shots, res.mean_shots,
                 (long long)o.max_new_tokens, (long long)model->config.max_position_embeddings);
  if (res.truncated_prompts > 0)
    std::fprintf(stderr, "fewshot: warning: %lld prompts were too long even without shots and lost their start\n",
                 (long long)res.truncated_prompts);

  write_file_atomic(o.out_dir + "/records.jsonl", [&](std::FILE* f) {
    for (const auto& line : records) {
      fwrite_checked(f, line.data(), line.size(), o.out_dir + "/records.jsonl");
      fwrite_checked(f, "\n", 1, o.out_dir + "/records.jsonl");
    }
  });
  nlohmann::json summary = {{"model", o.model},
                            {"tokenizer", o.tokenizer},
                            {"train", o.train},
                            {"test", o.test},
                            {"shots", o.shots},
                            {"shot_seed", o.shot_seed},
                            {"raw_shots", o.raw_shots},
                            {"max_new_tokens", o.max_new_tokens},
                            {"problems", n},
                            {"correct", res.correct},
                            {"accuracy", res.accuracy},
                            {"ci95", {res.ci.lo, res.ci.hi}},
                            {"extraction_rules", rules},
                            {"prompts_with_fewer_shots", res.reduced_shots},
                            {"mean_shots_used", res.mean_shots},
                            {"truncated_prompts", res.truncated_prompts},
                            {"seconds", res.seconds},
                            {"problems_per_s", double(n) / std::max(res.seconds, 1e-9)}};
  write_file_atomic(o.out_dir + "/summary.json", summary.dump(2) + "\n");
  char shots_text[48];
  std::snprintf(shots_text, sizeof shots_text, res.reduced_shots ? "%d (mean %.1f used)" : "%d", o.shots, res.mean_shots);
  std::string md = "| model | test set | shots | problems | correct | accuracy (%) | 95% CI (Wilson) |\n"
                   "|---|---|---:|---:|---:|---:|---|\n";
  md += "| " + o.model + " | " + o.test + " | " + shots_text + " | " + std::to_string(n) + " | " +
        std::to_string(res.correct) + " | " + percent(res.accuracy) + " | " + percent(res.ci.lo) + " - " +
        percent(res.ci.hi) + " |\n";
  write_file_atomic(o.out_dir + "/results.md", md);
  return res;
}

}  // namespace rho
