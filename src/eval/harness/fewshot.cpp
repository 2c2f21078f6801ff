#include "eval/harness/fewshot.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "data/documents.h"
#include "eval/bos.h"
#include "eval/generation/generate.h"
#include "eval/harness/math_tasks.h"
#include "model/model_use.h"
#include "tokenizer/tokenizer.h"

namespace rho {

std::string fewshot_prompt(const std::vector<std::pair<std::string, std::string>>& shots,
                           const std::string& question) {
  std::string p;
  for (const auto& [q, a] : shots) p += "Question: " + q + "\nAnswer: " + a + "\n\n";
  return p + "Question: " + question + "\nAnswer:";
}

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// One problem ready to generate for: its prompt, token ids and what grading needs.
struct Problem {
  std::string question, prompt, gold;
  std::vector<int32_t> ids;
  bool truncated = false;
  bool too_long = false;  // harness mode: longer than the positions, refused as vLLM refuses it
  int shots_used = -1;    // custom mode only
};

// Grades a generation: sets `extracted` (and `rule`, custom mode) and says whether it is right.
using Grader = std::function<bool(const std::string& generation, const std::string& gold, json& record)>;

// A task's accuracy in percent as math_eval.py reports it: np.round(acc * 100, 1).
double harness_percent(double accuracy) { return std::nearbyint(accuracy * 100.0 * 10.0) / 10.0; }

std::string one_decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * v);
  return buf;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Generates for every problem (batched by generate_batch), grades, writes
// <dir>/records.jsonl, fills the counts of `res`.
void run_problems(LlamaForCausalLM& model, const Tokenizer& tok, const std::vector<Problem>& problems,
                  const GenerateOptions& g, const Grader& grade, const std::string& dir, TaskResult& res) {
  const int64_t n = int64_t(problems.size());
  std::vector<std::string> lines;
  const auto t0 = Clock::now();
  auto last_report = t0;
  // Chunks keep progress lines coming; within a chunk, generate_batch batches neighbours in length.
  const int64_t chunk = std::max<int64_t>(g.batch_size * 4, 16);
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t end = std::min(n, first + chunk);
    std::vector<std::vector<int32_t>> ids;
    for (int64_t i = first; i < end; ++i)
      if (!problems[size_t(i)].too_long) ids.push_back(problems[size_t(i)].ids);
    const auto generated = generate_batch(model, tok, ids, g);
    size_t next = 0;
    for (int64_t i = first; i < end; ++i) {
      const Problem& p = problems[size_t(i)];
      Generation refused;
      refused.finish = "too_long";
      refused.prompt_tokens = int64_t(p.ids.size());
      const Generation& gen = p.too_long ? refused : generated[next++];
      json r = {{"index", i}, {"question", p.question}, {"prompt", p.prompt}, {"generation", gen.text}};
      const bool correct = grade(gen.text, p.gold, r);
      r["gold"] = p.gold;
      r["correct"] = correct;
      r["finish"] = gen.finish;
      r["prompt_tokens"] = gen.prompt_tokens;
      r["prompt_truncated"] = p.truncated || gen.prompt_truncated;
      r["new_tokens"] = int64_t(gen.tokens.size());
      if (p.shots_used >= 0) r["shots_used"] = p.shots_used;
      res.correct += correct;
      res.truncated_prompts += p.truncated || gen.prompt_truncated;
      res.too_long_prompts += p.too_long;
      ++res.finish[gen.finish];
      lines.push_back(r.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (end == n || seconds_since(last_report) >= 5) {
      const double rate = double(end) / std::max(seconds_since(t0), 1e-9);
      std::fprintf(stderr, "fewshot %s %lld/%lld | acc %s%% | %.2f problems/s | ETA %s\n", res.task.c_str(),
                   (long long)end, (long long)n, percent(double(res.correct) / double(end)).c_str(), rate,
                   format_duration(double(n - end) / rate).c_str());
      last_report = Clock::now();
    }
  }
  res.problems = n;
  res.seconds = seconds_since(t0);
  res.accuracy = n > 0 ? double(res.correct) / double(n) : 0;
  res.ci = wilson_interval(res.correct, n);
  make_dirs(dir);
  const std::string path = dir + "/records.jsonl";
  write_file_atomic(path, [&](std::FILE* f) {
    for (const auto& line : lines) {
      fwrite_checked(f, line.data(), line.size(), path);
      fwrite_checked(f, "\n", 1, path);
    }
  });
}

// The harness's test file for a task under a data/ folder laid out as the harness's.
std::string harness_test_file(const MathTask& task, const std::string& data_dir) {
  const std::string p = data_dir + "/" + task.data_dir + "/test.jsonl";
  if (!file_exists(p)) fail_file(data_dir, "no " + task.data_dir + "/test.jsonl for task " + task.name);
  return p;
}

// The paper's protocol for one task.
TaskResult run_harness_task(LlamaForCausalLM& model, const Tokenizer& tok, const FewShotOptions& o, bool bos,
                            const MathTask& task, const std::string& test) {
  TaskResult res;
  res.task = task.name;
  res.test = test;
  const int64_t P = model->config.max_position_embeddings;
  std::vector<Problem> problems;
  for_each_record(test, [&](const json& record, int64_t line) {
    if (o.limit > 0 && int64_t(problems.size()) >= o.limit) return;
    const MathItem item = parse_math_record(task, record, test, line);
    Problem p;
    p.question = item.question;
    p.gold = item.gold;
    p.prompt = math_prompt(task, item.question);
    if (bos) p.ids.push_back(tok.bos_id());
    const auto ids = tok.encode(p.prompt);
    p.ids.insert(p.ids.end(), ids.begin(), ids.end());
    // vLLM refuses a prompt longer than the model's positions (no output: graded wrong) and
    // generates from any other until the positions run out. A prompt of exactly P tokens would
    // get one token there; here generation needs a free position, so its first token goes.
    if (int64_t(p.ids.size()) > P) {
      p.too_long = true;
    } else if (int64_t(p.ids.size()) == P) {
      p.ids.erase(p.ids.begin());
      p.truncated = true;
    }
    problems.push_back(std::move(p));
  });
  GenerateOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.temperature = 0;
  g.stop = math_stop_strings();
  g.batch_size = o.batch;
  g.max_prompt_tokens = P - 1;
  run_problems(model, tok, problems, g,
               [&](const std::string& gen, const std::string& gold, json& r) {
                 std::string extracted;
                 const bool ok = grade_math(task, gen, gold, &extracted);
                 r["extracted"] = extracted;
                 return ok;
               },
               o.out_dir + "/" + task.name, res);
  json summary = {{"task", task.name}, {"test", test}, {"model", o.model}, {"tokenizer", o.tokenizer},
                  {"exemplars", "src/eval/harness/prompts/" + task.exemplars}, {"stop", g.stop},
                  {"max_new_tokens", o.max_new_tokens}, {"bos", bos}, {"problems", res.problems},
                  {"correct", res.correct}, {"accuracy", res.accuracy}, {"ci95", {res.ci.lo, res.ci.hi}},
                  {"too_long_prompts", res.too_long_prompts}, {"truncated_prompts", res.truncated_prompts},
                  {"finish", res.finish}, {"seconds", res.seconds}};
  write_file_atomic(o.out_dir + "/" + task.name + "/summary.json", summary.dump(2) + "\n");
  if (res.too_long_prompts > 0)
    std::fprintf(stderr, "fewshot %s: warning: %lld of %lld prompts are longer than the model's %lld positions: no "
                 "output, graded wrong (as vLLM refuses them in the harness)\n", task.name.c_str(),
                 (long long)res.too_long_prompts, (long long)res.problems, (long long)P);
  return res;
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Custom exemplars from a GSM8K-format file (the small demo models' mode).
TaskResult run_custom(LlamaForCausalLM& model, const Tokenizer& tok, const FewShotOptions& o, bool bos) {
  if (o.shots < 0) fail("--shots must be >= 0");
  TaskResult res;
  res.task = "custom";
  res.test = o.test;
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
  const MathTask& gsm8k = math_task("gsm8k");  // custom exemplars are graded as gsm8k is
  const auto test_q = read_jsonl_field(o.test, o.question_field);
  const auto test_a = read_jsonl_field(o.test, o.answer_field);
  const size_t n = o.limit > 0 ? std::min<size_t>(size_t(o.limit), test_q.size()) : test_q.size();
  // A prompt that leaves no room for max_new_tokens within the positions drops exemplars from
  // the end (it stays well-formed); only one too long with none is cut on the left.
  const int64_t budget = prompt_budget(model->config.max_position_embeddings, o.max_new_tokens);
  std::vector<Problem> problems;
  int64_t shots_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    Problem p;
    p.question = test_q[i];
    // The gold as the harness parses a gsm8k record (the text after `####`, strip_string'ed).
    p.gold = parse_math_record(gsm8k, {{"question", test_q[i]}, {"answer", test_a[i]}}, o.test, int64_t(i) + 1).gold;
    std::vector<std::pair<std::string, std::string>> used = shots;
    for (;;) {
      p.prompt = fewshot_prompt(used, p.question);
      p.ids.clear();
      if (bos) p.ids.push_back(tok.bos_id());
      const auto ids = tok.encode(p.prompt);
      p.ids.insert(p.ids.end(), ids.begin(), ids.end());
      if (int64_t(p.ids.size()) <= budget || used.empty()) break;
      used.pop_back();
    }
    p.shots_used = int(used.size());
    res.reduced_shots += used.size() < shots.size();
    shots_sum += int64_t(used.size());
    problems.push_back(std::move(p));
  }
  res.mean_shots = n > 0 ? double(shots_sum) / double(n) : 0;
  GenerateOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.temperature = 0;
  g.stop = {"\n\nQuestion:", "\n\nProblem:"};
  g.batch_size = o.batch;
  run_problems(model, tok, problems, g,
               [&gsm8k](const std::string& gen, const std::string& gold, json& r) {
                 std::string extracted;
                 const bool ok = grade_math(gsm8k, gen, gold, &extracted);
                 r["extracted"] = extracted;
                 return ok;
               },
               o.out_dir + "/custom", res);
  json summary = {{"task", "custom"}, {"model", o.model}, {"tokenizer", o.tokenizer}, {"train", o.train},
                  {"test", o.test}, {"shots", o.shots}, {"shot_seed", o.shot_seed}, {"raw_shots", o.raw_shots},
                  {"max_new_tokens", o.max_new_tokens}, {"bos", bos}, {"problems", res.problems},
                  {"correct", res.correct}, {"accuracy", res.accuracy}, {"ci95", {res.ci.lo, res.ci.hi}},
                  {"prompts_with_fewer_shots", res.reduced_shots}, {"mean_shots_used", res.mean_shots},
                  {"too_long_prompts", res.too_long_prompts}, {"truncated_prompts", res.truncated_prompts},
                  {"finish", res.finish}, {"seconds", res.seconds}};
  write_file_atomic(o.out_dir + "/custom/summary.json", summary.dump(2) + "\n");
  if (res.reduced_shots > 0)
    std::fprintf(stderr, "fewshot: warning: %lld of %lld prompts held fewer than %d shots (mean %.1f) to leave %lld "
                 "new tokens within the model's %lld positions\n", (long long)res.reduced_shots,
                 (long long)res.problems, o.shots, res.mean_shots, (long long)o.max_new_tokens,
                 (long long)model->config.max_position_embeddings);
  return res;
}

void write_table(const FewShotOptions& o, const FewShotResult& r, bool bos, const std::string& bos_why) {
  const std::string label = o.label.empty() ? o.model : o.label;
  std::string head = "| model |", rule = "|---|", row = "| " + label + " |", detail;
  json tasks = json::array();
  for (const auto& t : r.tasks) {
    head += " " + t.task + " |";
    rule += "---:|";
    row += " " + one_decimal(harness_percent(t.accuracy)) + " |";
    detail += "- " + t.task + ": " + std::to_string(t.correct) + "/" + std::to_string(t.problems) + ", 95% CI " +
              percent(t.ci.lo) + "-" + percent(t.ci.hi) + "% (Wilson), " + t.test +
              (t.too_long_prompts ? ", " + std::to_string(t.too_long_prompts) + " prompts too long (wrong)" : "") +
              (t.truncated_prompts ? ", " + std::to_string(t.truncated_prompts) + " prompts truncated" : "") + "\n";
    tasks.push_back({{"task", t.task}, {"test", t.test}, {"problems", t.problems}, {"correct", t.correct},
                     {"accuracy", t.accuracy}, {"ci95", {t.ci.lo, t.ci.hi}},
                     {"too_long_prompts", t.too_long_prompts}, {"truncated_prompts", t.truncated_prompts},
                     {"finish", t.finish}, {"seconds", t.seconds}});
  }
  if (r.tasks.size() > 1) {
    head += " avg |";
    rule += "---:|";
    row += " " + one_decimal(r.average_percent) + " |";
  }
  const std::string md = "Few-shot accuracy (%), greedy decoding, up to " + std::to_string(o.max_new_tokens) +
                         " new tokens" + (bos ? ", BOS" : ", no BOS") + ":\n\n" + head + "\n" + rule + "\n" + row +
                         "\n\n" + detail;
  write_file_atomic(o.out_dir + "/results.md", md);
  json j = {{"model", o.model}, {"label", label}, {"tokenizer", o.tokenizer}, {"bos", bos}, {"bos_rule", bos_why},
            {"max_new_tokens", o.max_new_tokens}, {"tasks", tasks}, {"average_percent", r.average_percent}};
  write_file_atomic(o.out_dir + "/results.json", j.dump(2) + "\n");
}

}  // namespace

double harness_average_percent(const std::vector<double>& accuracies) {
  double sum = 0;  // Python's sum(), left to right
  for (double a : accuracies) sum += harness_percent(a);
  return accuracies.empty() ? 0 : sum / double(accuracies.size());
}

std::string strip_calculator(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t open = s.find("<<", i);
    const size_t close = open == std::string::npos ? open : s.find(">>", open + 2);
    if (close == std::string::npos) break;
    out += s.substr(i, open - i);
    i = close + 2;
  }
  return out + s.substr(std::min(i, s.size()));
}

std::string exemplar_answer(const std::string& answer_text) {
  auto trim = [](const std::string& t) {
    const char* ws = " \t\r\n\v\f";
    const size_t a = t.find_first_not_of(ws);
    return a == std::string::npos ? std::string() : t.substr(a, t.find_last_not_of(ws) - a + 1);
  };
  std::string a = strip_calculator(answer_text);
  const size_t at = a.rfind("####");
  if (at == std::string::npos) return trim(a);
  std::string body = trim(a.substr(0, at)), final = trim(a.substr(at + 4));
  return body + (body.empty() ? "" : "\n") + "The answer is " + final + ".";
}

FewShotResult run_fewshot(const FewShotOptions& opts) {
  FewShotOptions o = opts;
  if (o.tasks.empty() && o.train.empty() && !o.harness_data.empty())
    for (const auto& t : math_tasks()) o.tasks.push_back(t.name);  // the whole table
  const bool custom = !o.train.empty();
  if (custom && !o.tasks.empty()) fail("give --task or --train (custom exemplars), not both");
  if (!custom && o.tasks.empty()) fail("give --task (the paper's protocol) or --train (custom exemplars)");
  if (custom && o.test.empty()) fail("--train needs --test");
  if (!custom && o.tests.size() != o.tasks.size() && !(o.tests.empty() && !o.harness_data.empty()))
    fail("give one --test per --task (in the same order), or --harness-data");
  std::vector<const MathTask*> tasks;
  for (const auto& t : o.tasks) tasks.push_back(&math_task(t));  // unknown names fail before loading
  std::vector<std::string> tests = o.tests;  // and missing test files
  if (!custom && tests.empty())
    for (const MathTask* t : tasks) tests.push_back(harness_test_file(*t, o.harness_data));
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  std::string bos_why;
  const bool bos = resolve_bos(o.bos, tok, o.model, &bos_why);
  if (bos && tok.bos_id() < 0) fail_file(o.tokenizer, "has no BOS token, but " + bos_why + " asks for one");
  auto model = load_model_for(o.model, {"model", tok.id(), 0, o.allow_unrecorded_tokenizer});
  model->eval();
  prepare_for_inference(*model, o.compute);
  make_dirs(o.out_dir);

  FewShotResult r;
  if (custom) {
    r.tasks.push_back(run_custom(model, tok, o, bos));
  } else {
    for (size_t k = 0; k < tasks.size(); ++k) r.tasks.push_back(run_harness_task(model, tok, o, bos, *tasks[k], tests[k]));
  }
  std::vector<double> accuracies;
  for (const auto& t : r.tasks) accuracies.push_back(t.accuracy);
  r.average_percent = harness_average_percent(accuracies);
  write_table(o, r, bos, bos_why);
  return r;
}

}  // namespace rho
