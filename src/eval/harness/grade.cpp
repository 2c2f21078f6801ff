// math_equal of eval/harness/answer.h (grader.py at dcfa46a2); its last step, sympy's symbolic
// equivalence, is eval/harness/expr.h (GiNaC).
#include <cmath>
#include <vector>

#include "eval/harness/answer.h"
#include "eval/harness/expr.h"
#include "common/pytext.h"

namespace rho::harness {
namespace {

using py::contains;
using py::ends_with;
using py::starts_with;

// parse_digits(): float() after removing commas; "12%" (or "12\%") is 0.12.
std::optional<double> parse_digits(const std::string& num) {
  std::string n = py::replace_all(num, ",", "");
  if (auto v = py::parse_float(n)) return v;
  if (ends_with(n, "%")) {
    n.pop_back();
    if (ends_with(n, "\\")) n.pop_back();
    if (auto v = py::parse_float(n)) return *v / 100;
  }
  return std::nullopt;
}

// math.isclose(a, b, rel_tol=1e-4): infinities equal only themselves, NaN nothing.
bool isclose(double a, double b) {
  if (a == b) return true;
  if (std::isinf(a) || std::isinf(b)) return false;
  return std::fabs(a - b) <= 1e-4 * std::max(std::fabs(a), std::fabs(b));
}

std::string strip_chars(const std::string& s, const std::string& chars) {
  size_t a = 0, b = s.size();
  while (a < b && chars.find(s[a]) != std::string::npos) ++a;
  while (b > a && chars.find(s[b - 1]) != std::string::npos) --b;
  return s.substr(a, b - a);
}

std::string remove_chars(std::string s, const std::string& chars) {
  std::string out;
  for (char c : s)
    if (chars.find(c) == std::string::npos) out += c;
  return out;
}

// regex.match(r'(\(|\[).+(\)|\])', s): opens a bracket and closes one at least two characters on.
bool tuple_like(const std::string& s) {
  if (s.empty() || (s[0] != '(' && s[0] != '[')) return false;
  for (size_t k = 2; k < s.size(); ++k)
    if (s[k] == ')' || s[k] == ']') return true;
  return false;
}

// str_to_pmatrix(): "{1,2},{3,4}" style vectors written as pmatrix.
std::string str_to_pmatrix(const std::string& input) {
  const std::string s = py::strip(input);
  // re.findall(r'\{.*,.*\}', s): greedy, so one match from the first '{' to the last '}' that has
  // a ',' between them.
  const size_t open = s.find('{'), close = s.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close <= open) return "";
  const std::string m = s.substr(open, close - open + 1);
  if (m.find(',') == std::string::npos) return "";
  return "\\begin{pmatrix}" + py::replace_all(strip_chars(m, "{}"), ",", "\\") + "\\end{pmatrix}";
}

int count(const std::string& s, char c) { return int(std::count(s.begin(), s.end(), c)); }

bool is_matrix(const std::string& s) {
  return (starts_with(s, "\\begin{pmatrix}") || starts_with(s, "\\begin{bmatrix}")) &&
         (ends_with(s, "\\end{pmatrix}") || ends_with(s, "\\end{bmatrix}"));
}

// The rows of a matrix body ("a & b \\ c & d"), blank rows dropped.
std::vector<std::string> matrix_rows(const std::string& s) {
  const size_t head = std::string("\\begin{pmatrix}").size(), tail = std::string("\\end{pmatrix}").size();
  std::vector<std::string> rows;
  if (s.size() < head + tail) return rows;
  for (const auto& line : py::split(s.substr(head, s.size() - head - tail), "\\\\"))
    if (!py::strip(line).empty()) rows.push_back(py::strip(line));
  return rows;
}

bool matrices_equal(const std::string& p, const std::string& r) {
  const auto pr = matrix_rows(p), rr = matrix_rows(r);
  if (pr.size() != rr.size()) return false;
  for (size_t k = 0; k < pr.size(); ++k) {
    const auto pc = py::split(pr[k], "&"), rc = py::split(rr[k], "&");
    if (pc.size() != rc.size()) return false;
    for (size_t j = 0; j < pc.size(); ++j)
      if (!math_equal(pc[j], rc[j])) return false;
  }
  return true;
}

}  // namespace

bool math_equal(const std::string& prediction, const std::string& reference) {
  if (prediction == reference) return true;
  const auto p = parse_digits(prediction), r = parse_digits(reference);
  if (p && r) {
    for (double item : {*r / 100, *r, *r * 100})
      if (isclose(item, *p)) return true;
    return false;
  }
  if (prediction.empty()) return false;
  std::string ref = py::strip(reference), pred = py::strip(prediction);
  if (contains(pred, "pmatrix") && !contains(ref, "pmatrix")) ref = str_to_pmatrix(ref);

  std::string ps = pred, rs = ref;
  if ((starts_with(pred, "[") && ends_with(pred, "]") && !starts_with(ref, "(")) ||
      (starts_with(pred, "(") && ends_with(pred, ")") && !starts_with(ref, "["))) {
    ps = strip_chars(ps, "[]()");
    rs = strip_chars(rs, "[]()");
  }
  if (py::lower_ascii(remove_chars(ps, "{}()")) == py::lower_ascii(remove_chars(rs, "{}()"))) return true;

  if (tuple_like(pred) && tuple_like(ref)) {
    const auto pp = py::split(pred.substr(1, pred.size() - 2), ",");
    const auto rp = py::split(ref.substr(1, ref.size() - 2), ",");
    if (pp.size() == rp.size()) {
      bool all = true;
      for (size_t k = 0; k < pp.size() && all; ++k) all = math_equal(pp[k], rp[k]);
      if (all) return true;
    }
  }
  if (is_matrix(pred) && is_matrix(ref) && matrices_equal(pred, ref)) return true;

  if (count(pred, '=') == 1 && count(ref, '=') == 1) {
    const auto a = py::split(pred, "="), b = py::split(ref, "=");
    const std::string pe = py::strip(a[0]) + " - (" + py::strip(a[1]) + ")";
    const std::string re = py::strip(b[0]) + " - (" + py::strip(b[1]) + ")";
    if (symbolic_equal(pe, re) || symbolic_equal("-(" + pe + ")", re)) return true;
  } else if (count(pred, '=') == 1 && py::length(py::strip(py::split(pred, "=")[0])) <= 2 && !contains(ref, "=")) {
    if (math_equal(py::split(pred, "=")[1], ref)) return true;
  } else if (count(ref, '=') == 1 && py::length(py::strip(py::split(ref, "=")[0])) <= 2 && !contains(pred, "=")) {
    if (math_equal(pred, py::split(ref, "=")[1])) return true;
  }
  return symbolic_equal(pred, ref);
}

}  // namespace rho::harness
