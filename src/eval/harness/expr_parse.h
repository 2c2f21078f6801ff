// Readers of answers into GiNaC expressions, standing in for the two parsers the harness's
// symbolic_equal tries (grader.py at dcfa46a2): sympy's parse_latex (its ANTLR LaTeX grammar, the
// same file in sympy 1.11 to 1.14; non-strict) and sympy's parse_expr (Python syntax). Both are
// read as sympy reads them, quirks included, because the verdicts must be the harness's:
//  - parse_latex reads the longest prefix it can and ignores the rest: "x**2" is x, "1,2" is 1,
//    "x^-1" is x; a construct it has started must finish ("(1,2)" is an error), and so must a
//    relation after its operator ("x=" is an error), a subscript after its _ and a decimal
//    after its point.
//  - letters are one-letter symbols and e is one of them (not Euler's number); \pi is a symbol
//    named pi (sympy's parser makes Symbol('pi'), not pi); \infty is infinity;
//  - "x(...)" and "\alpha(...)" are calls of an unknown function, not products;
//  - \log and \ln are natural logarithms, \lg is base 10, \log_b base b; \sin^{-1} is arcsin;
//  - a lone x between two symbol-free factors is a times sign ("2 x 3" is 6);
//  - a command is a backslash and every letter after it ("\pir" is a symbol, not \pi r).
// Not read (the whole text is then unreadable, as if sympy had failed): \int, \lim, \frac{d}{dx},
// \langle/\rangle, symbolic bounds of \sum and \prod, numbers too large to hold (a power of more
// than 10^5 bits, a factorial past 5000!) and texts over 10,000 characters, which sympy would
// evaluate or time out on. Infinity is a symbol: sympy's oo - 1 is oo, here it is not.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ginac/ginac.h>

namespace rho::harness {

// Symbols by name, shared by the two sides of one comparison: GiNaC tells symbols apart by
// identity, not by name.
class SymbolTable {
 public:
  GiNaC::ex get(const std::string& name);
  // sympy's oo (\infty, oo).
  GiNaC::ex infinity() { return get("\xe2\x88\x9e"); }
  bool is_infinity(const GiNaC::ex& e) { return e.is_equal(infinity()); }

 private:
  std::map<std::string, GiNaC::symbol> symbols_;
};

// What a parser made of a text: an expression, a relation (lhs op rhs: "=", "<", "<=", ">", ">=",
// "!="), or parse_expr's tuple ("1, 2", "(1, 2)"), list ("[1, 2]") or set ("{1, 2}").
struct Reading {
  enum class Kind { kExpr, kRelation, kTuple, kList, kSet };
  Kind kind = Kind::kExpr;
  GiNaC::ex value;
  std::string op;
  GiNaC::ex lhs, rhs;
  std::vector<GiNaC::ex> items;
};

// sympy's parse_latex(text); nullopt where it raises (or where this reader gives up, see above).
std::optional<Reading> read_latex(const std::string& text, SymbolTable& symbols);
// sympy's parse_expr(text) with its standard transformations (no implicit products, ^ is not a
// power); nullopt where it raises or reads something that is not arithmetic.
std::optional<Reading> read_plain(const std::string& text, SymbolTable& symbols);

// Whether e holds a symbol other than infinity (sympy: e.atoms(Symbol) is not empty).
bool has_symbols(const GiNaC::ex& e, SymbolTable& symbols);

}  // namespace rho::harness
