#include "eval/grading.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

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

}  // namespace rho
