#include "eval/math.h"

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
#include "tokenizer/tokenizer.h"

namespace rho {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return s;  // ASCII only, so byte offsets stay those of the original
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

struct Number {
  size_t pos = 0, end = 0;  // byte range in the text
  double value = 0;
};

// Reads an unsigned decimal at s[i] (digits with optional thousands groups and fraction):
// "1,234.5" -> 1234.5. A comma counts as a thousands separator only before exactly three digits
// that end the group ("1,234" yes; "1,2" and "12,3456" no: those are lists).
bool read_unsigned(const std::string& s, size_t& i, double& value, bool& integral) {
  size_t j = i;
  std::string digits;
  while (j < s.size() && is_digit(s[j])) digits += s[j++];
  if (!digits.empty() && digits.size() <= 3) {
    while (j + 3 < s.size() && s[j] == ',' && is_digit(s[j + 1]) && is_digit(s[j + 2]) && is_digit(s[j + 3]) &&
           (j + 4 >= s.size() || !is_digit(s[j + 4]))) {
      digits += s.substr(j + 1, 3);
      j += 4;
    }
  }
  integral = true;
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
    integral = false;
    digits += '.';
    ++j;
    while (j < s.size() && is_digit(s[j])) digits += s[j++];
  }
  if (digits.empty() || digits == ".") return false;
  value = std::strtod(digits.c_str(), nullptr);
  i = j;
  return true;
}

// The content of a brace group starting at s[i] == '{' (nested braces matched); i moves past it.
bool read_braced(const std::string& s, size_t& i, std::string& content) {
  if (i >= s.size() || s[i] != '{') return false;
  int depth = 0;
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] == '{') ++depth;
    if (s[j] == '}' && --depth == 0) {
      content = s.substr(i + 1, j - i - 1);
      i = j + 1;
      return true;
    }
  }
  return false;  // unbalanced: not a group
}

std::optional<double> whole_number(const std::string& s);

// \frac{a}{b} (or \dfrac, \tfrac) with numeric a and b, at s[i].
bool read_latex_fraction(const std::string& s, size_t i, Number& n) {
  for (const char* cmd : {"\\frac", "\\dfrac", "\\tfrac"}) {
    const size_t len = std::char_traits<char>::length(cmd);
    if (s.compare(i, len, cmd) != 0) continue;
    size_t j = i + len;
    std::string a, b;
    if (!read_braced(s, j, a) || !read_braced(s, j, b)) return false;
    auto x = whole_number(a), y = whole_number(b);
    if (!x || !y || *y == 0) return false;
    n = {i, j, *x / *y};
    return true;
  }
  return false;
}

// A plain number at s[i]: optional sign, digits (thousands groups, decimals), optional /b.
bool read_plain_number(const std::string& s, size_t i, Number& n) {
  size_t j = i;
  bool negative = false;
  // A '-' (or U+2212) is a sign when it does not follow a word or a closing bracket:
  // "x = -3" and "$-5" are negative, "5-3" is a subtraction.
  if (s[j] == '-' || s.compare(j, 3, "\xE2\x88\x92") == 0) {
    const size_t sign_len = s[j] == '-' ? 1 : 3;
    const char before = i > 0 ? s[i - 1] : ' ';
    const bool after_operand = is_digit(before) || is_alpha(before) || before == ')' || before == ']';
    const size_t d = j + sign_len;
    if (!after_operand && d < s.size() && (is_digit(s[d]) || (s[d] == '.' && d + 1 < s.size() && is_digit(s[d + 1])))) {
      negative = true;
      j = d;
    }
  }
  const bool starts_number = j < s.size() && (is_digit(s[j]) || (s[j] == '.' && j + 1 < s.size() && is_digit(s[j + 1])));
  // Digits that continue a word ("x2", "COVID19") are not numbers.
  if (!starts_number || (!negative && i > 0 && (is_alpha(s[i - 1]) || is_digit(s[i - 1])))) return false;
  double v = 0;
  bool integral = false;
  if (!read_unsigned(s, j, v, integral)) return false;
  // a/b with integers on both sides is a fraction (but not a date like 1/2/2020).
  if (integral && j + 1 < s.size() && s[j] == '/' && is_digit(s[j + 1])) {
    size_t k = j + 1;
    double d = 0;
    bool d_integral = false;
    if (read_unsigned(s, k, d, d_integral) && d_integral && d != 0 && (k >= s.size() || s[k] != '/')) {
      v /= d;
      j = k;
    }
  }
  n = {i, j, negative ? -v : v};
  return true;
}

// Every number of `s` in text order, in the forms described in math.h.
std::vector<Number> scan_numbers(const std::string& s) {
  std::vector<Number> out;
  size_t i = 0;
  while (i < s.size()) {
    Number n;
    if (read_latex_fraction(s, i, n) || read_plain_number(s, i, n)) {
      out.push_back(n);
      i = n.end;
    } else {
      ++i;
    }
  }
  return out;
}

// The number that `s` is, whole (surrounding spaces, `$`, `%` and commas allowed), or nullopt.
std::optional<double> whole_number(const std::string& s) {
  std::string t;
  for (char c : s)
    if (c != '$' && c != '%' && c != ' ') t += c;
  if (t.rfind("\\$", 0) == 0) t = t.substr(2);
  auto nums = scan_numbers(t);
  if (nums.size() != 1 || nums[0].pos != 0 || nums[0].end != t.size()) return std::nullopt;
  return nums[0].value;
}

// A segment chosen by an extraction rule, reduced to what gets compared: its first number, or
// else its cleaned text.
std::string normalize_segment(std::string seg) {
  seg = trim(seg);
  if (!seg.empty() && seg[0] == ':') seg = trim(seg.substr(1));
  if (auto v = first_number(seg)) return format_number(*v);
  std::string out;
  for (char c : seg)
    if (c != '$') out += c;
  out = trim(out);
  while (!out.empty() && (out.back() == '.' || out.back() == '/')) out.pop_back();
  return trim(out);
}

// Text after the last occurrence of `phrase` (case-insensitive) up to the end of its line.
std::optional<std::string> after_last(const std::string& text, const std::string& low, const std::string& phrase) {
  const size_t at = low.rfind(phrase);
  if (at == std::string::npos) return std::nullopt;
  const size_t from = at + phrase.size();
  const size_t eol = text.find('\n', from);
  return text.substr(from, eol == std::string::npos ? std::string::npos : eol - from);
}

}  // namespace

std::optional<double> first_number(const std::string& s) {
  auto nums = scan_numbers(s);
  if (nums.empty()) return std::nullopt;
  return nums.front().value;
}

std::optional<double> last_number(const std::string& s) {
  auto nums = scan_numbers(s);
  if (nums.empty()) return std::nullopt;
  return nums.back().value;
}

std::string format_number(double v) {
  if (v == 0) return "0";  // also -0
  char buf[64];
  // Integers print without a fraction; others with the fewest digits that read back exactly.
  if (std::fabs(v) < 1e15 && v == std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

Extraction extract_answer(const std::string& completion) {
  const std::string& text = completion;
  const std::string low = lower(text);
  auto accept = [](const std::string& seg, const char* rule) -> std::optional<Extraction> {
    std::string a = normalize_segment(seg);
    if (a.empty()) return std::nullopt;  // an empty segment ("The answer is" at the end) falls through
    return Extraction{a, rule};
  };

  // 1. final answer is $...$
  if (size_t at = low.find("final answer is $"); at != std::string::npos) {
    const size_t from = at + std::string("final answer is $").size();
    const size_t close = text.find('$', from);
    // Without a closing dollar the segment runs to the end of the line.
    const size_t end = close != std::string::npos ? close : text.find('\n', from);
    std::string seg = text.substr(from, end == std::string::npos ? std::string::npos : end - from);
    if (auto e = accept(seg, "final-answer-dollar")) return *e;
  }
  // 2. the last \boxed{...}
  for (size_t at = text.rfind("\\boxed"); at != std::string::npos;
       at = at == 0 ? std::string::npos : text.rfind("\\boxed", at - 1)) {
    size_t j = at + 6;
    while (j < text.size() && text[j] == ' ') ++j;
    std::string content;
    if (read_braced(text, j, content)) {
      if (auto e = accept(content, "boxed")) return *e;
      break;  // the last box is empty: the rules below decide
    }
  }
  // 3. the answer is ...   4. final answer is ...
  if (auto seg = after_last(text, low, "the answer is"))
    if (auto e = accept(*seg, "the-answer-is")) return *e;
  if (auto seg = after_last(text, low, "final answer is"))
    if (auto e = accept(*seg, "final-answer-is")) return *e;
  // 5. the last number
  if (auto v = last_number(text)) return {format_number(*v), "last-number"};
  return {"", "none"};
}

bool answers_match(const std::string& predicted, const std::string& gold) {
  const std::string p = normalize_segment(predicted), g = normalize_segment(gold);
  if (p.empty() || g.empty()) return false;
  auto a = whole_number(p), b = whole_number(g);
  if (a && b) return std::fabs(*a - *b) <= 1e-4 * std::max(std::fabs(*a), std::fabs(*b));
  return p == g;
}

std::string gold_answer(const std::string& answer_text) {
  const size_t at = answer_text.rfind("####");
  if (at == std::string::npos) return extract_answer(answer_text).answer;
  std::string tail = answer_text.substr(at + 4);
  tail.erase(std::remove(tail.begin(), tail.end(), ','), tail.end());  // "1,234" and "1234,5" alike
  return normalize_segment(tail);
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
  std::string a = strip_calculator(answer_text);
  const size_t at = a.rfind("####");
  if (at == std::string::npos) return trim(a);
  std::string body = trim(a.substr(0, at)), final = trim(a.substr(at + 4));
  return body + (body.empty() ? "" : "\n") + "The answer is " + final + ".";
}

Interval wilson_interval(int64_t k, int64_t n, double z) {
  if (n <= 0) return {0, 1};
  const double p = double(k) / double(n), nn = double(n), z2 = z * z;
  const double denom = 1 + z2 / nn;
  const double center = (p + z2 / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

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
  auto model = load_model_for(o.model, tok);

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
