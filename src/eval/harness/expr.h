// Numeric stand-in for the sympy equivalence check at the end of the harness's math_equal
// (grader.py symbolic_equal: parse_latex / parse_expr, then a == b, simplify(a - b) == 0 or equal
// numeric values). Reads arithmetic in LaTeX or Python spelling: numbers, + - * / ^ **, \cdot,
// \times, \div, ( ) [ ] { } groups, \frac{a}{b}, \sqrt{x}, \sqrt[n]{x}, \pi, \sin \cos \tan \ln
// \log \exp, implicit products ("2x", "3\pi", "ab"), and one-letter variables. Anything else
// (words, commands it does not know, relations, sets) is not an expression, as far as this goes.
#pragma once
#include <array>
#include <optional>
#include <string>

namespace rho::harness {

// Values of the expression at kSamplePoints fixed assignments of its variables (the same
// assignments for every expression, so two expressions can be compared); nullopt when the text
// is not an expression or a value is not finite.
constexpr int kSamplePoints = 3;
std::optional<std::array<double, kSamplePoints>> evaluate_expression(const std::string& text);

// Both texts are expressions with values within a relative 1e-4 of each other at every sample
// point: the stand-in for "sympy finds them equal".
bool expressions_equal(const std::string& a, const std::string& b);

}  // namespace rho::harness
