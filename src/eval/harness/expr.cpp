#include "eval/harness/expr.h"

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>

#include "common/pytext.h"
#include "eval/harness/expr_parse.h"

namespace rho::harness {
namespace {

using GiNaC::ex;
using GiNaC::ex_to;
using GiNaC::is_a;
using GiNaC::numeric;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = std::chrono::seconds(3);  // the harness's per-comparison timeout
constexpr double kMaxTerms = 50000;                  // expansions estimated larger are not tried

// grader.py's _parse: parse_latex, parse_expr (each on s with "\\\\" made "\\", then on s); a
// text neither reads stays a string (nullopt here).
std::optional<Reading> read_side(const std::string& s, SymbolTable& symbols) {
  const std::string unescaped = py::replace_all(s, "\\\\", "\\");
  for (auto reader : {read_latex, read_plain})
    for (const std::string* text : {&unescaped, &s})
      if (auto r = reader(*text, symbols)) return r;
  return std::nullopt;
}

// Terms an expand() of e may produce, roughly; refuses (x + y + z)^500 before GiNaC tries.
double expansion_terms(const ex& e) {
  if (is_a<GiNaC::add>(e)) {
    double n = 0;
    for (size_t k = 0; k < e.nops(); ++k) n += expansion_terms(e.op(k));
    return n;
  }
  if (is_a<GiNaC::mul>(e)) {
    double n = 1;
    for (size_t k = 0; k < e.nops(); ++k) n *= expansion_terms(e.op(k));
    return std::min(n, 1e18);
  }
  if (is_a<GiNaC::power>(e)) {
    const double base = expansion_terms(e.op(0));
    const ex exponent = e.op(1);
    if (!is_a<numeric>(exponent) || !ex_to<numeric>(exponent).is_integer()) return base;
    const double n = std::fabs(ex_to<numeric>(exponent).to_double());
    // Monomials of degree n in `base` terms: C(n + base - 1, base - 1).
    return std::min(std::exp(std::lgamma(n + base) - std::lgamma(n + 1) - std::lgamma(base)), 1e18);
  }
  double n = 1;
  for (size_t k = 0; k < e.nops(); ++k) n += expansion_terms(e.op(k));
  return n;
}

// u = 2v for an even integer coefficient: v, else nullopt.
std::optional<ex> half_of_double(const ex& u) {
  if (!is_a<GiNaC::mul>(u)) return std::nullopt;
  const ex coefficient = u.op(u.nops() - 1);
  if (!is_a<numeric>(coefficient) || !ex_to<numeric>(coefficient).is_even()) return std::nullopt;
  return u / 2;
}

// (n + k)! as (n + k) ... (n + 1) n! for a small positive integer k; nullopt otherwise.
std::optional<ex> factorial_expanded(const ex& u) {
  if (!is_a<GiNaC::add>(u)) return std::nullopt;
  const ex k = u.op(u.nops() - 1);
  if (!is_a<numeric>(k) || !ex_to<numeric>(k).is_pos_integer() || ex_to<numeric>(k) > 20) return std::nullopt;
  ex product = GiNaC::factorial(u - k);
  for (int i = 1; i <= ex_to<numeric>(k).to_int(); ++i) product *= (u - k + i);
  return product;
}

// Trigonometric and factorial forms rewritten so that expand()/normal() see sympy's identities:
// tan as sin/cos, sin(2v) and cos(2v) expanded, (n + k)! unfolded.
ex rewrite_functions(const ex& e) {
  const ex r = e.map(rewrite_functions);
  if (!is_a<GiNaC::function>(r) || r.nops() != 1) return r;
  const ex u = r.op(0);
  if (GiNaC::is_the_function<GiNaC::tan_SERIAL>(r)) return GiNaC::sin(u) / GiNaC::cos(u);
  const auto half = half_of_double(u);
  if (half && GiNaC::is_the_function<GiNaC::sin_SERIAL>(r))
    return rewrite_functions(2 * GiNaC::sin(*half) * GiNaC::cos(*half));
  if (half && GiNaC::is_the_function<GiNaC::cos_SERIAL>(r))
    return rewrite_functions(1 - 2 * GiNaC::pow(GiNaC::sin(*half), 2));
  if (GiNaC::is_the_function<GiNaC::factorial_SERIAL>(r))
    if (auto unfolded = factorial_expanded(u)) return *unfolded;
  // log(z^r) = r log(z) for 0 < r <= 1 and every z (principal branches): log(sqrt(z)) = log(z)/2.
  if (GiNaC::is_the_function<GiNaC::log_SERIAL>(r) && is_a<GiNaC::power>(u) && is_a<numeric>(u.op(1))) {
    const numeric p = ex_to<numeric>(u.op(1));
    if (p.is_rational() && p > 0 && p <= 1) return p * GiNaC::log(u.op(0));
  }
  return r;
}

// x^a x^b as x^(a+b) and exp(a) exp(b) as exp(a+b) (sympy does both when it builds a product;
// GiNaC only for numeric exponents). True for every x: x^a = exp(a log x).
ex combine_powers(const ex& e) {
  const ex r = e.map(combine_powers);
  if (!is_a<GiNaC::mul>(r)) return r;
  std::map<ex, ex, GiNaC::ex_is_less> exponents;
  ex exp_argument = 0, rest = 1;
  for (size_t k = 0; k < r.nops(); ++k) {
    const ex f = r.op(k);
    if (GiNaC::is_the_function<GiNaC::exp_SERIAL>(f)) exp_argument += f.op(0);
    else if (is_a<GiNaC::power>(f)) exponents[f.op(0)] += f.op(1);
    else if (is_a<numeric>(f)) rest *= f;
    else exponents[f] += 1;
  }
  for (const auto& [base, exponent] : exponents) rest *= GiNaC::pow(base, exponent.expand());
  return rest * GiNaC::exp(exp_argument.expand());
}

bool symbolically_zero(const ex& d, Clock::time_point deadline) {
  if (d.is_zero()) return true;
  if (Clock::now() > deadline || expansion_terms(d) > kMaxTerms) return false;
  ex prepared = combine_powers(rewrite_functions(d));
  if (expansion_terms(prepared) > kMaxTerms || Clock::now() > deadline) return false;
  // Expanded first, so that every sin^2 is in sight of the substitution (not inside (a + b)^3).
  const ex w = GiNaC::wild();
  prepared = prepared.expand().subs(GiNaC::pow(GiNaC::sin(w), 2) == 1 - GiNaC::pow(GiNaC::cos(w), 2),
                                    GiNaC::subs_options::algebraic);  // also inside sin^3, sin^4, ...
  if (Clock::now() > deadline) return false;
  if (prepared.expand().is_zero()) return true;
  return Clock::now() < deadline && prepared.normal().is_zero();
}

// float(N(e)) where it has a real value.
std::optional<double> real_value(const ex& e, SymbolTable& symbols) {
  if (has_symbols(e, symbols)) return std::nullopt;
  const ex v = e.evalf();
  if (!is_a<numeric>(v)) return std::nullopt;
  const numeric n = ex_to<numeric>(v);
  if (!n.is_real()) return std::nullopt;
  return n.to_double();
}

bool values_close(const ex& a, const ex& b, SymbolTable& symbols) {
  const auto x = real_value(a, symbols), y = real_value(b, symbols);
  if (!x || !y) return false;
  if (*x == *y) return true;
  if (std::isinf(*x) || std::isinf(*y) || std::isnan(*x) || std::isnan(*y)) return false;
  return std::fabs(*x - *y) <= 1e-4 * std::max(std::fabs(*x), std::fabs(*y));  // math.isclose(rel_tol=1e-4)
}

bool expressions_equal(const ex& a, const ex& b, SymbolTable& symbols, Clock::time_point deadline) {
  return symbolically_zero(a - b, deadline) || (Clock::now() < deadline && values_close(a, b, symbols));
}

// Python's == on sympy objects: equal as built, nothing simplified.
bool same_as_written(const ex& a, const ex& b) { return (a - b).is_zero(); }

bool items_equal(const Reading& a, const Reading& b) {
  if (a.items.size() != b.items.size()) return false;
  for (size_t k = 0; k < a.items.size(); ++k)
    if (!same_as_written(a.items[k], b.items[k])) return false;
  return true;
}

bool sets_equal(const Reading& a, const Reading& b) {
  auto covered = [](const Reading& x, const Reading& y) {
    for (const ex& i : x.items) {
      bool found = false;
      for (const ex& j : y.items) found = found || same_as_written(i, j);
      if (!found) return false;
    }
    return true;
  };
  return covered(a, b) && covered(b, a);
}

bool readings_equal(const Reading& a, const Reading& b, SymbolTable& symbols, Clock::time_point deadline) {
  using K = Reading::Kind;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::kExpr:
      return expressions_equal(a.value, b.value, symbols, deadline);
    case K::kRelation: {
      // grader.py: a == b, else abs(a.lhs - a.rhs).equals(abs(b.lhs - b.rhs)).
      if (a.op == b.op && same_as_written(a.lhs, b.lhs) && same_as_written(a.rhs, b.rhs)) return true;
      const ex da = a.lhs - a.rhs, db = b.lhs - b.rhs;
      return symbolically_zero(da - db, deadline) || symbolically_zero(da + db, deadline);
    }
    case K::kTuple:
    case K::kList:
      return items_equal(a, b);
    case K::kSet:
      return sets_equal(a, b);
  }
  return false;
}

}  // namespace

bool symbolic_equal(const std::string& a, const std::string& b) {
  static std::mutex ginac_mutex;  // GiNaC's shared reference counts and caches are not thread-safe
  const std::lock_guard<std::mutex> lock(ginac_mutex);
  const auto deadline = Clock::now() + kTimeout;
  try {
    SymbolTable symbols;
    const auto x = read_side(a, symbols), y = read_side(b, symbols);
    if (!x && !y) return a == b;  // str(a) == str(b) of the unparsed strings
    if (!x || !y) return false;
    return readings_equal(*x, *y, symbols, deadline);
  } catch (const std::exception&) {  // GiNaC: division by zero, overflow in evalf, ...
    return false;
  }
}

}  // namespace rho::harness
