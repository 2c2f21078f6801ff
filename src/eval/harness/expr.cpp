#include "eval/harness/expr.h"

#include <cmath>
#include <cstring>
#include <functional>

namespace rho::harness {
namespace {

using Vals = std::array<double, kSamplePoints>;

Vals constant(double c) {
  Vals v;
  v.fill(c);
  return v;
}

Vals combine(const Vals& a, const Vals& b, const std::function<double(double, double)>& f) {
  Vals r;
  for (int k = 0; k < kSamplePoints; ++k) r[k] = f(a[k], b[k]);
  return r;
}

Vals combine(const Vals& a, double (*f)(double)) {
  Vals r;
  for (int k = 0; k < kSamplePoints; ++k) r[k] = f(a[k]);
  return r;
}

// A variable's value at each sample point: distinct per letter and per point, away from 0 and
// from the small integers answers are made of.
Vals variable(char letter) {
  const int L = (letter >= 'a' && letter <= 'z') ? letter - 'a' : 26 + (letter - 'A');
  Vals v;
  for (int k = 0; k < kSamplePoints; ++k) v[k] = 0.7 + 0.31 * L + 1.13 * k + 0.017 * L * k;
  return v;
}

struct Parser {
  const std::string& s;
  size_t i = 0;
  bool ok = true;

  static bool letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // Spaces and LaTeX spacing commands.
  void skip() {
    while (i < s.size()) {
      if (s[i] == ' ' || s[i] == '\t') {
        ++i;
      } else if (s[i] == '\\' && i + 1 < s.size() && std::strchr(",;:! ", s[i + 1])) {
        i += 2;
      } else {
        return;
      }
    }
  }
  bool command(const char* name) {  // "\name" not followed by another letter
    const size_t n = std::strlen(name);
    if (s.compare(i, n + 1, std::string("\\") + name) != 0) return false;
    if (i + n + 1 < s.size() && letter(s[i + n + 1])) return false;
    i += n + 1;
    return true;
  }
  bool eat(const char* tok) {
    skip();
    if (s.compare(i, std::strlen(tok), tok) != 0) return false;
    i += std::strlen(tok);
    return true;
  }
  Vals fail() {
    ok = false;
    return constant(0);
  }

  Vals expr() {
    Vals v = term();
    while (ok) {
      if (eat("+")) v = combine(v, term(), [](double a, double b) { return a + b; });
      else if (eat("-")) v = combine(v, term(), [](double a, double b) { return a - b; });
      else break;
    }
    return v;
  }
  // Whether an operand starts here (for implicit products).
  bool operand_starts() {
    skip();
    if (i >= s.size()) return false;
    const char c = s[i];
    if (digit(c) || c == '.' || letter(c) || c == '(' || c == '[' || c == '{') return true;
    if (c != '\\') return false;
    for (const char* name : {"frac", "dfrac", "tfrac", "sqrt", "pi", "sin", "cos", "tan", "ln", "log", "exp"})
      if (s.compare(i + 1, std::strlen(name), name) == 0) return true;
    return false;
  }
  Vals term() {
    Vals v = unary();
    while (ok) {
      skip();
      if (eat("*") || command("cdot") || command("times")) {
        v = combine(v, unary(), [](double a, double b) { return a * b; });
      } else if (eat("/") || command("div")) {
        v = combine(v, unary(), [](double a, double b) { return a / b; });
      } else if (operand_starts()) {
        v = combine(v, power(), [](double a, double b) { return a * b; });
      } else {
        break;
      }
    }
    return v;
  }
  Vals unary() {
    if (eat("-")) return combine(unary(), [](double a) { return -a; });
    if (eat("+")) return unary();
    return power();
  }
  Vals power() {
    Vals base = atom();
    skip();
    if (ok && (eat("**") || eat("^"))) {
      skip();
      Vals e = (i < s.size() && s[i] == '{') ? atom() : (i < s.size() && digit(s[i])) ? single_digit() : unary();
      return combine(base, e, [](double a, double b) { return std::pow(a, b); });
    }
    return base;
  }
  Vals single_digit() { return constant(double(s[i++] - '0')); }
  // {expr}, or one character standing for itself (\frac12).
  Vals group() {
    skip();
    if (i < s.size() && s[i] == '{') return atom();
    if (i < s.size() && digit(s[i])) return single_digit();
    if (i < s.size() && letter(s[i])) return variable(s[i++]);
    return fail();
  }
  Vals closed(const char* open, const char* close) {
    if (!eat(open)) return fail();
    Vals v = expr();
    if (!eat(close)) return fail();
    return v;
  }
  Vals atom() {
    skip();
    if (i >= s.size()) return fail();
    const char c = s[i];
    if (c == '(') return closed("(", ")");
    if (c == '[') return closed("[", "]");
    if (c == '{') return closed("{", "}");
    if (digit(c) || c == '.') {
      size_t j = i;
      while (j < s.size() && digit(s[j])) ++j;
      if (j < s.size() && s[j] == '.') {
        ++j;
        while (j < s.size() && digit(s[j])) ++j;
      }
      if (j == i + 1 && c == '.') return fail();
      const double v = std::strtod(s.substr(i, j - i).c_str(), nullptr);
      i = j;
      return constant(v);
    }
    if (letter(c)) return variable(s[i++]);
    if (c != '\\') return fail();
    if (command("frac") || command("dfrac") || command("tfrac")) {
      Vals a = group(), b = group();
      return combine(a, b, [](double x, double y) { return x / y; });
    }
    if (command("sqrt")) {
      skip();
      if (i < s.size() && s[i] == '[') {
        Vals n = closed("[", "]"), x = group();
        return combine(x, n, [](double a, double b) { return std::pow(a, 1.0 / b); });
      }
      return combine(group(), [](double a) { return std::sqrt(a); });
    }
    if (command("pi")) return constant(M_PI);
    static const std::pair<const char*, double (*)(double)> fns[] = {
        {"sin", [](double a) { return std::sin(a); }}, {"cos", [](double a) { return std::cos(a); }},
        {"tan", [](double a) { return std::tan(a); }}, {"ln", [](double a) { return std::log(a); }},
        {"log", [](double a) { return std::log(a); }}, {"exp", [](double a) { return std::exp(a); }}};
    for (const auto& [name, f] : fns)
      if (command(name)) return combine(power(), f);
    return fail();
  }
};

}  // namespace

std::optional<std::array<double, kSamplePoints>> evaluate_expression(const std::string& text) {
  Parser p{text};
  Vals v = p.expr();
  p.skip();
  if (!p.ok || p.i != text.size()) return std::nullopt;
  for (double x : v)
    if (!std::isfinite(x)) return std::nullopt;
  return v;
}

bool expressions_equal(const std::string& a, const std::string& b) {
  const auto x = evaluate_expression(a), y = evaluate_expression(b);
  if (!x || !y) return false;
  for (int k = 0; k < kSamplePoints; ++k)
    if (std::fabs((*x)[k] - (*y)[k]) > 1e-4 * std::max(std::fabs((*x)[k]), std::fabs((*y)[k]))) return false;
  return true;
}

}  // namespace rho::harness
