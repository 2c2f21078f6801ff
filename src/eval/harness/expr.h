// sympy's symbolic equivalence at the end of the harness's math_equal (grader.py at dcfa46a2,
// symbolic_equal), done with the GiNaC computer-algebra library. Each side is read as the harness
// reads it: sympy's parse_latex, then its parse_expr, each on the text with "\\\\" made "\\" and
// then on the text itself (eval/harness/expr_parse.h says how, quirks included); a side neither
// reads stays a string. Two sides are equal when
//  - both are strings and the same string;
//  - both are expressions and a - b is 0 after GiNaC's normal() or expand() (with x^a x^b and
//    exp(a) exp(b) combined, tan/sec/csc/cot as sin and cos, sin(2u) and cos(2u) expanded and
//    sin(u)^2 as 1 - cos(u)^2, (n+k)! as (n+k)...(n+1) n!, log(z^r) as r log(z) for 0 < r <= 1),
//    or both have no symbols and their values are within a relative 1e-4 (grader.py's
//    numeric_equal of float(N(a)), float(N(b)));
//  - both are relations with |lhs - rhs| equal (grader.py compares only that: x < 3 equals x > 3);
//  - both are tuples or lists of the same length with equal items, or sets with the same items
//    (parse_expr's readings of "(1, 2)", "[1, 2]", "{1, 2}"; items compared as written, not
//    simplified, as Python's == on sympy objects does).
// sympy's simplify proves more than this (other trigonometric and logarithmic identities, sums
// with symbolic bounds, integrals, limits); tests/fixtures/harness/grader_table.jsonl holds the
// harness's own verdicts on 284 pairs, and tests/test_harness_grader_table.cpp holds rho to them
// (278 agree; the 6 known differences are marked there with their reasons).
//
// Bounded like the harness's 3 s timeout: a comparison gives up (not equal) after 3 s, and texts
// whose numbers or expansions would be too large to compute are not read or not expanded. GiNaC is
// not thread-safe; calls are serialised by a global mutex.
#pragma once
#include <string>

namespace rho::harness {

bool symbolic_equal(const std::string& a, const std::string& b);

}  // namespace rho::harness
