// extract_answer and word_to_num of eval/harness/answer.h.
#include <algorithm>
#include <map>
#include <vector>

#include "eval/harness/answer.h"
#include "common/pytext.h"

namespace rho::harness {
namespace {

using py::contains;

// word2number 1.1's american_number_system; "point" is the decimal point.
const std::map<std::string, int64_t>& number_words() {
  static const std::map<std::string, int64_t> m = {
      {"zero", 0},      {"one", 1},        {"two", 2},         {"three", 3},     {"four", 4},
      {"five", 5},      {"six", 6},        {"seven", 7},       {"eight", 8},     {"nine", 9},
      {"ten", 10},      {"eleven", 11},    {"twelve", 12},     {"thirteen", 13}, {"fourteen", 14},
      {"fifteen", 15},  {"sixteen", 16},   {"seventeen", 17},  {"eighteen", 18}, {"nineteen", 19},
      {"twenty", 20},   {"thirty", 30},    {"forty", 40},      {"fifty", 50},    {"sixty", 60},
      {"seventy", 70},  {"eighty", 80},    {"ninety", 90},     {"hundred", 100}, {"thousand", 1000},
      {"million", 1000000}, {"billion", 1000000000}};
  return m;
}

// number_formation(): words between the multipliers (an empty list raises there).
std::optional<int64_t> formation(const std::vector<std::string>& words) {
  std::vector<int64_t> n;
  for (const auto& w : words) n.push_back(number_words().at(w));
  if (n.empty()) return std::nullopt;
  if (n.size() == 4) return n[0] * n[1] + n[2] + n[3];
  if (n.size() == 3) return n[0] * n[1] + n[2];
  if (n.size() == 2) return (n[0] == 100 || n[1] == 100) ? n[0] * n[1] : n[0] + n[1];
  return n[0];
}

int index_of(const std::vector<std::string>& v, const char* w) {
  for (size_t k = 0; k < v.size(); ++k)
    if (v[k] == w) return int(k);
  return -1;
}

std::vector<std::string> slice(const std::vector<std::string>& v, int a, int b) {
  return std::vector<std::string>(v.begin() + a, v.begin() + b);
}

// re.findall(r'-?\d*\.?\d+', s): every number, left to right, non-overlapping.
std::vector<std::string> find_numbers(const std::string& s) {
  auto digit = [&](size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t k = s[i] == '-' ? i + 1 : i;
    size_t j = k;
    while (digit(j)) ++j;
    size_t end = 0;
    if (j < s.size() && s[j] == '.' && digit(j + 1)) {
      end = j + 1;
      while (digit(end)) ++end;
    } else if (j > k) {
      end = j;
    }
    if (end == 0) {
      ++i;
      continue;
    }
    out.push_back(s.substr(i, end - i));
    i = end;
  }
  return out;
}

// extract_multi_choice_answer(): the first "answer is (x)" with x in a-e, after "choice is" is
// read as "answer is" and anything from "Problem:" on is dropped.
std::string multi_choice(std::string pred) {
  if (contains(pred, "Problem:")) pred = py::split(pred, "Problem:")[0];
  const std::string low = py::lower_ascii(py::replace_all(pred, "choice is", "answer is"));
  for (size_t at = low.find("answer is "); at != std::string::npos; at = low.find("answer is ", at + 1)) {
    size_t j = at + 10;
    if (j < low.size() && low[j] == '(') ++j;
    if (j < low.size() && low[j] >= 'a' && low[j] <= 'e') return std::string(1, char(low[j] - 'a' + 'A'));
  }
  return "placeholder";
}

// The content of the brace group that opens `ans` (unbalanced: everything after the brace).
std::string braced(const std::string& ans) {
  int depth = 1;
  std::string a;
  for (size_t k = 1; k < ans.size(); ++k) {
    const char c = ans[k];
    if (c == '{') ++depth;
    if (c == '}' && --depth == 0) break;
    a += c;
  }
  return a;
}

// re.sub(r"\n\s*", "", s).
std::string join_lines(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '\n') {
      out += s[i++];
      continue;
    }
    ++i;
    while (i < s.size()) {
      const auto c = py::decode_at(s, i);
      if (!py::is_space(c.cp)) break;
      i += c.len;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> word_to_num(const std::string& input) {
  const std::string s = py::lower_ascii(py::replace_all(input, "-", " "));
  bool all_digits = !s.empty();
  for (char c : s) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {  // int(s): leading zeros go
    size_t z = 0;
    while (z + 1 < s.size() && s[z] == '0') ++z;
    return s.substr(z);
  }
  std::vector<std::string> clean, decimals;
  for (const auto& w : py::split_ws(s))
    if (w == "point" || number_words().count(w)) clean.push_back(w);
  if (clean.empty()) return std::nullopt;
  auto count = [&](const char* w) { return std::count(clean.begin(), clean.end(), std::string(w)); };
  if (count("thousand") > 1 || count("million") > 1 || count("billion") > 1 || count("point") > 1) return std::nullopt;
  if (count("point") == 1) {
    const int p = index_of(clean, "point");
    decimals = slice(clean, p + 1, int(clean.size()));
    clean = slice(clean, 0, p);
  }
  const int bi = index_of(clean, "billion"), mi = index_of(clean, "million"), ti = index_of(clean, "thousand");
  if ((ti > -1 && (ti < mi || ti < bi)) || (mi > -1 && mi < bi)) return std::nullopt;
  const int n = int(clean.size());
  int64_t total = 0;
  if (n == 1) {
    total = number_words().at(clean[0]);
  } else if (n > 1) {
    auto add = [&](std::optional<int64_t> v, int64_t scale) {
      if (!v) return false;
      total += *v * scale;
      return true;
    };
    if (bi > -1 && !add(formation(slice(clean, 0, bi)), 1000000000)) return std::nullopt;
    if (mi > -1 && !add(formation(slice(clean, bi > -1 ? bi + 1 : 0, mi)), 1000000)) return std::nullopt;
    if (ti > -1 && !add(formation(slice(clean, mi > -1 ? mi + 1 : bi > -1 ? bi + 1 : 0, ti)), 1000)) return std::nullopt;
    std::optional<int64_t> hundreds = 0;
    if (ti > -1 && ti != n - 1) hundreds = formation(slice(clean, ti + 1, n));
    else if (mi > -1 && mi != n - 1 && ti != n - 1) hundreds = formation(slice(clean, mi + 1, n));
    else if (bi > -1 && bi != n - 1) hundreds = formation(slice(clean, bi + 1, n));
    else if (ti == -1 && mi == -1 && bi == -1) hundreds = formation(clean);
    if (!add(hundreds, 1)) return std::nullopt;
  }
  if (!decimals.empty()) {
    // get_decimal_sum(): digit words only, else 0 (an int, so the total stays an int).
    std::string frac;
    for (const auto& w : decimals) {
      if (w == "point" || number_words().at(w) > 9) return std::to_string(total);
      frac += std::to_string(number_words().at(w));
    }
    return py::float_repr(double(total) + std::stod("0." + frac));
  }
  return std::to_string(total);
}

std::string extract_answer(const std::string& completion, const std::string& task) {
  if (task == "mmlu_stem" || task == "sat_math" || task == "mathqa") return multi_choice(completion);
  const std::string& s = completion;
  std::string pred;
  if (contains(s, "final answer is $") && contains(s, "$. I hope")) {
    const std::string tmp = s.substr(s.find("final answer is $") + 17);
    pred = py::strip(py::split(tmp, "$. I hope")[0]);
  } else if (contains(s, "boxed")) {
    const std::string ans = s.substr(s.rfind("boxed") + 5);
    if (ans.empty()) return "";
    pred = ans[0] == '{' ? braced(ans) : py::strip(py::split(ans, "$")[0]);
  } else if (contains(s, "he answer is")) {
    pred = py::strip(s.substr(s.rfind("he answer is") + 12));
  } else if (contains(s, "final answer is")) {
    pred = py::strip(s.substr(s.rfind("final answer is") + 15));
  } else {
    const auto nums = find_numbers(py::replace_all(s, ",", ""));
    pred = nums.empty() ? "" : nums.back();
  }
  pred = join_lines(pred);
  if (!pred.empty() && pred[0] == ':') pred = pred.substr(1);
  if (!pred.empty() && pred.back() == '.') pred.pop_back();
  if (!pred.empty() && pred.back() == '/') pred.pop_back();
  return strip_string(pred);
}

}  // namespace rho::harness
