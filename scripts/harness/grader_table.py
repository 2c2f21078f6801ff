#!/usr/bin/env python3
"""Writes tests/fixtures/harness/grader_table.jsonl: (prediction, gold) pairs, both as math_equal
receives them (after strip_string), with the verdict of the math-evaluation-harness's own
math_equal (ZubinGou/math-evaluation-harness, grader.py at dcfa46a2) on each.
tests/test_harness_grader_table.cpp checks rho's port (src/eval/harness/grade.cpp) against it.

The harness's grader.py is not part of rho: pass the path of a copy (--grader or $HARNESS_GRADER).

    python3 scripts/harness/grader_table.py --grader /tmp/harness/grader.py \
        --pretend-antlr-4.11 --out tests/fixtures/harness/grader_table.jsonl

As the harness's evaluate.py does, each math_equal call runs in its own process and counts as
False after 3 s (pebble's ProcessPool.map(..., timeout=3)).

grader.py imports latex2sympy2, which is its third parser (after parse_latex and parse_expr) and
pins antlr 4.7.2, which sympy's own parser cannot run with; where it is not installed a stand-in
that always raises is used, so verdicts are those of parse_latex and parse_expr alone.

sympy's parse_latex refuses to start unless the antlr runtime's version starts with 4.11 (the
version its parser was generated with). --pretend-antlr-4.11 lets a newer runtime (4.13 reads the
4.11 parser) run it. Each row records whether parse_latex ran on each side ("latex": [pred, gold])
under the interpreter that made the table; --compare names the cases whose verdict or LaTeX
parsing differs from another table (e.g. one made with Debian's python3-sympy).
"""
import argparse
import contextlib
import importlib.metadata
import importlib.util
import io
import json
import math
import multiprocessing
import os
import platform
import re
import sys
import types

TIMEOUT_S = 3.0

# (prediction, gold, what the case checks). Both are as math_equal receives them: strip_string's
# output (no spaces, \dfrac as \frac, ...), though a few keep forms it would not make, to test
# math_equal alone.
CASES = [
    # numbers: math_equal's float comparison, before any sympy
    ("1.5", "1.50", "equal floats"),
    ("12", "12.0001", "within rel. 1e-4"),
    ("12", "12.01", "outside rel. 1e-4"),
    ("50", "0.5", "percentage: reference x100"),
    ("0.005", "0.5", "percentage: reference /100"),
    ("12\\%", "0.12", "percent sign read by parse_digits"),
    ("1,000", "1000", "thousands comma removed"),
    ("1,5", "15", "any comma removed: a comma list of digits reads as one number"),
    ("1,2", "2,1", "comma lists of digits compare as the numbers 12 and 21"),
    ("-3", "3", "sign matters"),
    # fractions and decimals
    ("0.5", "\\frac{1}{2}", "decimal vs \\frac"),
    ("\\frac{1}{2}", "0.5", "\\frac vs decimal"),
    ("0.33333", "\\frac{1}{3}", "decimal within 1e-4 of 1/3"),
    ("0.333", "\\frac{1}{3}", "decimal 1e-3 from 1/3"),
    ("\\frac{2}{4}", "\\frac{1}{2}", "unreduced fraction"),
    ("1/2", "\\frac{1}{2}", "a/b vs \\frac"),
    ("\\frac{3}{2}", "1.5", "improper fraction vs decimal"),
    ("\\frac{3}{2}", "1.6", "close but not equal"),
    ("\\frac{3}{4}", "\\frac{6}{8}", "equal fractions"),
    ("\\tfrac{3}{4}", "\\frac{3}{4}", "\\tfrac"),
    ("\\dfrac{3}{4}", "0.75", "\\dfrac"),
    ("-\\frac{1}{2}", "-0.5", "negative fraction"),
    ("\\frac{-1}{2}", "-\\frac{1}{2}", "sign inside the numerator"),
    ("\\frac{1}{2}", "-\\frac{1}{2}", "sign differs"),
    ("2\\frac{1}{2}", "\\frac{5}{2}", "a mixed number reads as a product (2 * 1/2)"),
    ("2\\frac{1}{2}", "1", "the product is 1"),
    ("\\frac{100}{3}", "33.3", "1e-3 apart"),
    ("\\frac{100}{3}", "33.33333", "within 1e-4"),
    ("\\frac12", "0.5", "\\frac with digit arguments"),
    ("\\frac{1}{12}", "0.0833333333333333", "grader.py's own example"),
    ("\\frac{7}{3}", "\\frac{14}{6}", "equal fractions"),
    ("\\frac{7}{3}", "\\frac{7}{4}", "different denominators"),
    ("2/3", "0.6667", "a/b vs rounded decimal"),
    ("2/3", "0.67", "a/b vs coarse decimal"),
    ("3/4", "\\frac{3}{4}", "a/b vs \\frac"),
    ("\\frac{1}{2}+\\frac{1}{3}", "\\frac{5}{6}", "fraction arithmetic"),
    ("\\frac{1}{2}\\cdot\\frac{2}{3}", "\\frac{1}{3}", "\\cdot"),
    ("6\\times7", "42", "\\times"),
    ("84\\div2", "42", "\\div"),
    ("2^{10}", "1024", "power"),
    ("2^{-1}", "0.5", "negative exponent in braces"),
    ("10^{3}", "1000", "power of ten"),
    ("1.2\\times10^{3}", "1200", "scientific notation"),
    ("2^3^2", "64", "left-associative ^ in parse_latex: (2^3)^2"),
    ("2^3^2", "512", "not 2^9"),
    # radicals
    ("\\sqrt{2}", "1.41421", "sqrt vs decimal"),
    ("\\sqrt{2}", "1.414", "sqrt vs coarse decimal"),
    ("\\sqrt{8}", "2\\sqrt{2}", "radical simplification"),
    ("2\\sqrt{2}", "\\sqrt{8}", "radical simplification, swapped"),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", "rationalised denominator"),
    ("\\sqrt{12}", "2\\sqrt{3}", "radical simplification"),
    ("\\sqrt{12}", "3\\sqrt{2}", "different radicals"),
    ("\\sqrt[3]{8}", "2", "cube root"),
    ("\\sqrt[3]{16}", "2\\sqrt[3]{2}", "cube root simplification"),
    ("\\sqrt[4]{16}", "2", "fourth root"),
    ("\\sqrt{3+2\\sqrt{2}}", "1+\\sqrt{2}", "nested radical"),
    ("\\sqrt{5+2\\sqrt{6}}", "\\sqrt{2}+\\sqrt{3}", "nested radical"),
    ("\\sqrt{5+2\\sqrt{6}}", "\\sqrt{2}+\\sqrt{5}", "nested radical, wrong"),
    ("\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}", "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}", "grader.py's own example"),
    ("\\frac{1+\\sqrt{5}}{2}", "2", "grader.py's own example"),
    ("\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}", "4", "grader.py's own example"),
    ("\\sqrt{x^2}", "x", "sqrt(x^2) is not x for every x"),
    ("\\sqrt{x^{2}}", "|x|", "sqrt(x^2) vs |x|"),
    ("\\sqrt{4x^2}", "2x", "sqrt(4x^2) is not 2x for every x"),
    ("\\sqrt{x}\\sqrt{x}", "x", "sqrt(x)^2 is x"),
    ("\\sqrt{x}^2", "x", "sqrt(x)^2 is x"),
    ("\\frac{1}{\\sqrt{3}}", "\\frac{\\sqrt{3}}{3}", "rationalised denominator"),
    ("\\frac{3}{\\sqrt{3}}", "\\sqrt{3}", "rationalised"),
    ("3\\sqrt{2}", "\\sqrt{18}", "radical"),
    ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5}", "sum of radicals is not the radical of the sum"),
    ("\\sqrt2", "\\sqrt{2}", "\\sqrt without braces: parse_latex refuses it"),
    ("\\sqrt{x+1}", "\\sqrt{1+x}", "symbolic radicand, reordered"),
    # pi
    ("\\pi", "3.14159", "pi vs decimal"),
    ("\\pi", "3.14", "pi vs coarse decimal"),
    ("2\\pi", "\\pi\\cdot2", "pi products"),
    ("\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", "pi fractions"),
    ("\\frac{4}{3}\\pi", "\\frac{4\\pi}{3}", "pi fractions"),
    ("\\pir^2", "\\pi r^2", "\\pir is one command: a symbol named pir"),
    ("\\pi r^2", "r^2\\pi", "symbolic with pi"),
    ("pi", "\\pi", "plain pi reads as the product p*i in parse_latex"),
    ("2*pi", "2\\pi", "2*pi reads as 2*p*i"),
    ("\\frac{\\pi}{3}", "60", "radians vs degrees"),
    ("6\\pi", "18.8496", "pi multiple vs decimal"),
    ("\\pi^2", "9.8696", "pi squared"),
    # trigonometry
    ("\\sin^2x+\\cos^2x", "1", "Pythagorean identity"),
    ("\\sin^2(x)+\\cos^2(x)", "1", "Pythagorean identity with parentheses"),
    ("\\sec^2(y)", "\\tan^2(y)+1", "grader.py's own example"),
    ("1-\\cos^2\\theta", "\\sin^2\\theta", "Pythagorean identity, Greek letter"),
    ("\\sin(2x)", "2\\sin x\\cos x", "double angle"),
    ("\\cos(2x)", "1-2\\sin^2x", "double angle"),
    ("\\tan x", "\\frac{\\sin x}{\\cos x}", "tangent as a quotient"),
    ("\\cot x", "\\frac{1}{\\tan x}", "cotangent"),
    ("\\csc x", "\\frac{1}{\\sin x}", "cosecant"),
    ("\\sin x", "\\cos x", "different functions"),
    ("\\sin x", "\\sin(x)", "argument with and without parentheses"),
    ("\\sin2x", "\\sin(2x)", "argument without parentheses"),
    ("\\tan\\frac{\\pi}{4}", "1", "exact value"),
    ("\\sin\\frac{\\pi}{6}", "\\frac{1}{2}", "exact value"),
    ("\\cos(\\pi)", "-1", "exact value"),
    ("\\cos\\frac{\\pi}{3}", "\\frac{\\sqrt{3}}{2}", "wrong exact value"),
    ("\\sin60", "\\frac{\\sqrt{3}}{2}", "degrees are not read: sin of 60 radians"),
    ("\\arctan(1)", "\\frac{\\pi}{4}", "arctan"),
    ("\\arctan1", "45", "arctan in degrees"),
    ("\\arcsin\\frac{1}{2}", "\\frac{\\pi}{6}", "arcsin"),
    ("\\arccos0", "\\frac{\\pi}{2}", "arccos"),
    ("\\sec\\frac{\\pi}{3}", "2", "secant"),
    ("\\cot\\frac{\\pi}{4}", "1", "cotangent"),
    ("\\csc\\frac{\\pi}{6}", "2", "cosecant"),
    ("\\sin^{-1}(1)", "\\frac{\\pi}{2}", "sin^{-1} is arcsin"),
    ("\\tan^{-1}(x)", "\\arctan(x)", "tan^{-1} is arctan"),
    ("\\sin x+1", "1+\\sin x", "function argument ends at +"),
    ("\\cos^2x", "\\cos x^2", "cos^2 x is not cos(x^2)"),
    ("\\sinx", "\\sin x", "\\sinx is one command: a symbol named sinx"),
    ("\\sin^2x", "\\frac{1-\\cos2x}{2}", "half-angle"),
    # logarithms and exponentials
    ("\\log_28", "3", "\\log_b with digit base"),
    ("\\log_{2}8", "3", "\\log_{b}"),
    ("\\log_39", "2", "\\log_b"),
    ("\\log_28", "4", "wrong value"),
    ("\\log_{10}1000", "3", "base 10"),
    ("\\log100", "2", "\\log is the natural logarithm in parse_latex"),
    ("\\log100", "4.60517", "natural log value"),
    ("\\lg100", "2", "\\lg is base 10"),
    ("\\ln8", "3\\ln2", "log of a power"),
    ("\\ln8", "2\\ln3", "wrong log identity"),
    ("\\log_2x", "\\frac{\\ln x}{\\ln2}", "change of base, symbolic"),
    ("\\ln(xy)", "\\ln x+\\ln y", "sympy does not split logs of symbols"),
    ("\\lne", "1", "\\lne is one command"),
    ("\\ln e", "1", "e is a symbol to parse_latex, not Euler's number"),
    ("e^{2}", "7.38906", "e is a symbol, so e^2 has no value"),
    ("\\exp(2)", "7.38906", "\\exp is exp"),
    ("\\exp(1)", "2.71828", "Euler's number"),
    ("e^{i\\pi}", "-1", "e and i are symbols"),
    ("e^xe^y", "e^{x+y}", "powers of the symbol e combine"),
    ("\\exp(x)\\exp(y)", "\\exp(x+y)", "exp products combine in sympy"),
    ("\\ln(\\exp(2))", "2", "log of exp"),
    ("2^{\\log_23}", "3", "power of a log"),
    ("\\log_2(8)+\\log_2(4)", "5", "sum of logs"),
    # factorial and binomial
    ("5!", "120", "factorial"),
    ("3!", "6", "factorial"),
    ("4!", "25", "wrong factorial"),
    ("\\frac{10!}{8!}", "90", "factorial quotient"),
    ("\\frac{8!}{3!5!}", "56", "binomial by factorials"),
    ("\\binom{5}{2}", "10", "\\binom"),
    ("\\binom{10}{3}", "120", "\\binom"),
    ("\\binom{6}{3}", "\\frac{6!}{3!3!}", "\\binom vs factorials"),
    ("\\dbinom{7}{2}", "21", "\\dbinom"),
    ("\\binom{7}{2}", "20", "wrong binomial"),
    ("\\binom{n}{2}", "\\frac{n(n-1)}{2}", "n(n-1) reads as a function n applied to n-1"),
    ("\\binom{n}{2}", "\\frac{n^2-n}{2}", "symbolic binomial"),
    ("(n+1)!", "(n+1)n!", "factorial recursion"),
    ("0!", "1", "0!"),
    ("3!!", "720", "3!! is (3!)!"),
    # infinity
    ("\\infty", "\\infty", "same string"),
    ("+\\infty", "\\infty", "explicit plus"),
    ("-\\infty", "\\infty", "sign matters"),
    ("\\infty", "oo", "oo reads as o*o in parse_latex"),
    ("\\infty", "1000000", "infinity is not a large number"),
    # intervals
    ("(-\\infty,3)", "(-\\infty,3)", "same interval"),
    ("(-\\infty,3]", "(-\\infty, 3]", "space after the comma"),
    ("(1,2)", "[1,2]", "math_equal ignores which brackets a pair has"),
    ("[2,5)", "[2,5]", "half-open vs closed: brackets ignored"),
    ("(0.6,2.6667]", "(\\frac{3}{5},\\frac{8}{3}]", "grader.py's own example"),
    ("(0.6,2.6]", "(\\frac{3}{5},\\frac{8}{3}]", "upper end wrong"),
    ("(-\\infty,-2)\\cup(2,\\infty)", "(-\\infty,-2)\\cup(3,\\infty)", "unions differ"),
    ("(-\\infty,-2)\\cup(2,\\infty)", "(-\\infty,-2)\\cup(2,\\infty)", "same union"),
    ("[-2,\\frac{1}{2}]", "[-2,0.5]", "closed interval with a fraction"),
    ("(3,\\infty)", "(3,\\infty)", "same unbounded interval"),
    ("(3,\\infty)", "(4,\\infty)", "different unbounded interval"),
    # comma lists, tuples, sets
    ("1,2,3", "1,2,3", "same list"),
    ("1,2", "1,3", "digit lists compare as the numbers 12 and 13"),
    ("\\frac{1}{2},3", "\\frac{1}{2},4", "parse_latex reads a list as its first element"),
    ("\\frac{1}{2},3", "3,\\frac{1}{2}", "first elements differ"),
    ("x,y", "x,z", "parse_latex reads only x of each"),
    ("-1,2", "2,-1", "first elements differ"),
    ("\\{1,2\\}", "\\{2,1\\}", "set order: parse_latex refuses \\{, parse_expr too"),
    ("\\{1,2\\}", "\\{1,2\\}", "same set"),
    ("(1,2)", "(1,2)", "same tuple"),
    ("(1,2)", "(2,1)", "tuple order matters"),
    ("(1,\\frac{1}{2})", "(1,0.5)", "tuple with a fraction"),
    ("(1,4.5)", "(1,\\frac{9}{2})", "grader.py's own example"),
    ("(\\sqrt{2},1)", "(\\frac{2}{\\sqrt{2}},1)", "tuple with radicals"),
    ("(1,2,3)", "(1,2)", "different lengths"),
    ("(x+1,2)", "(1+x,2)", "symbolic tuple"),
    ("[1,2]", "[1, 2]", "list with a space"),
    ("(1,2)", "1,2", "brackets stripped on one side"),
    ("1,2", "(1,2)", "brackets only on the reference"),
    ("(2,3)", "2,3", "a pair against its unbracketed list"),
    ("3,5", "5,3", "digit list order"),
    ("A,B", "A,B", "same letters"),
    ("A,C", "A,B", "parse_latex reads only the first letter"),
    # matrices
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2.0\\\\3&4\\end{pmatrix}", "entry-wise"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}", "entries differ"),
    ("\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}", "\\begin{pmatrix}-1.75&-2\\\\4&0.25\\end{pmatrix}", "fractions vs decimals"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "{1,2}", "reference in braces made a pmatrix"),
    ("\\begin{pmatrix}0.29\\\\0.196\\end{pmatrix}", "\\begin{pmatrix}0.290243531202435\\\\0.196008371385084\\end{pmatrix}", "rounded entries"),
    ("\\begin{pmatrix}\\sqrt{2}\\\\1\\end{pmatrix}", "\\begin{pmatrix}1.41421\\\\1\\end{pmatrix}", "radical entry"),
    ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", "row vs column"),
    # equations and relations
    ("y=2x+1", "2x+1=y", "sides swapped"),
    ("y=2x+1", "y=1+2x", "terms reordered"),
    ("2y=4x+2", "y=2x+1", "equations scaled: not the same difference"),
    ("x+y=3", "3=y+x", "sides and terms swapped"),
    ("-34x-45y+20z-100=0", "34x+45y-20z+100=0", "grader.py's own example: negated"),
    ("x=3", "3", "x = v against v"),
    ("3", "x=3", "v against x = v"),
    ("x=3", "4", "wrong value"),
    ("k=\\frac{1}{2}", "0.5", "x = fraction"),
    ("x^2+y^2=1", "y^2+x^2=1", "circle"),
    ("x^2+y^2=1", "x^2+y^2=2", "different circle"),
    ("y=x^2", "y=x\\cdotx", "\\cdotx is one command, a symbol"),
    ("y=x^2", "y=x\\cdot x", "x times x"),
    ("x<3", "3>x", "relations compared by |lhs - rhs| in grader.py"),
    ("x<3", "x>3", "the direction is lost in |lhs - rhs|"),
    ("x\\le3", "x<4", "different bound"),
    ("x+y+z=3", "3", "left side too long for the x = v rule"),
    # polynomials and rational functions
    ("(x+1)^2", "x^2+2x+1", "expansion"),
    ("x^2+2x+1", "(x+1)^2", "expansion, swapped"),
    ("(x+1)^2", "x^2+x+1", "wrong expansion"),
    ("(x-1)(x+1)", "x^2-1", "product of groups"),
    ("x(x+1)", "x^2+x", "x(...) reads as a function x applied to x+1"),
    ("2x(x+1)", "2x^2+2x", "still a function call"),
    ("x\\cdot(x+1)", "x^2+x", "with \\cdot it is a product"),
    ("\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}", "grader.py's own example"),
    ("\\frac{x^2-1}{x-1}", "x+1", "cancellation"),
    ("\\frac{x^2-1}{x+1}", "x+1", "wrong cancellation"),
    ("\\frac{1}{x}+\\frac{1}{y}", "\\frac{x+y}{xy}", "common denominator"),
    ("(a+b)^3", "a^3+3a^2b+3ab^2+b^3", "binomial cube"),
    ("(a+b)^3", "a^3+b^3", "freshman's dream"),
    ("2x+3", "3+2x", "reordered"),
    ("2x+3", "2x+4", "different constant"),
    ("x^{-1}", "\\frac{1}{x}", "negative exponent"),
    ("x^-1", "\\frac{1}{x}", "x^-1: parse_latex stops after x"),
    ("\\frac{1}{2}x", "\\frac{x}{2}", "coefficient placement"),
    ("0.5x", "\\frac{x}{2}", "decimal coefficient"),
    ("ab", "ba", "implicit products commute"),
    ("a_1+a_2", "a_2+a_1", "subscripted symbols"),
    ("a_1", "a_2", "different subscripts"),
    ("x^{\\frac{1}{2}}", "\\sqrt{x}", "fractional exponent"),
    ("x^{\\frac{2}{3}}", "\\sqrt[3]{x^2}", "fractional exponent vs root: not equal for every x"),
    ("|x-1|", "|1-x|", "absolute value"),
    ("|-3|", "3", "absolute value of a number"),
    ("(x+1)^{2}(x-1)^{2}", "(x^2-1)^2", "product of squares"),
    # plain (Python) syntax: parse_latex reads a prefix of it, or parse_expr reads it
    ("x**2", "x^2", "x**2: parse_latex stops after x"),
    ("sqrt(2)", "\\sqrt{2}", "sqrt(2) reads as s*q*r*t(2)"),
    ("2**0.5", "\\sqrt{2}", "2**0.5: parse_latex reads 2"),
    ("1.5e3", "1500", "1.5e3: the float comparison reads it first"),
    ("3*x", "3x", "explicit product"),
    ("x*y", "y\\cdot x", "explicit products"),
    ("(1, 2)", "(1,2)", "tuple with a space"),
    ("x/2", "\\frac{x}{2}", "slash division"),
    ("2 x 3", "6", "x between two numbers is a times sign"),
    ("2x3", "6", "also without spaces"),
    # percentages and text
    ("50\\%", "\\frac{1}{2}", "percent against a fraction: sympy reads neither percent"),
    ("50\\%", "50", "percent against the bare number"),
    ("x\\%", "x", "symbolic percent"),
    ("\\text{A}", "A", "leftover \\text (strip_string would remove it)"),
    ("A", "a", "case ignored by the string comparison"),
    ("\\textbf{(B)}", "B", "formatted choice letter"),
    ("yes", "no", "words"),
    ("", "0", "empty prediction"),
    ("\\mathrm{H}_2\\mathrm{O}", "\\mathrm{H}_2\\mathrm{O}", "same string"),
    # what sympy does not read or cannot settle in time
    ("\\sum_{i=1}^{3}i", "6", "sums are not evaluated by math_equal's sympy steps"),
    ("\\int_0^1xdx", "\\frac{1}{2}", "integral"),
    ("\\lim_{x\\to0}\\frac{\\sin x}{x}", "1", "limit"),
    ("\\lfloor2.5\\rfloor", "2", "floor"),
    ("\\lceil2.5\\rceil", "3", "ceiling"),
    ("9^{9^{9}}", "9^{9^{9}}+1", "too large for sympy within the harness's 3 s"),
    ("(x+1)^{200}", "(1+x)^{200}", "reordered base: equal without expanding"),
    ("3^{3^{20}}", "3^{3^{20}}", "same string, never parsed"),
    ("(x+1)^{150}", None, "(x+1)^150 against its expansion: sympy runs past 3 s"),
    ("(x+1)^{300}", "(x-1)^{300}", "large powers that differ"),
    ("\\log_39", "2", "\\log_39 is log base 3 of 9, not base 39"),
    ("\\log_3 9", "2", "digits join across a space: still base 3 of 9"),
    ("\\sin^23", "\\sin(3)^2", "superscript 2 of sin, argument 3"),
    ("\\sqrt{2}_3", "\\sqrt{2}", "a subscript after a group is dropped"),
    ("x_", "x", "a bare _ after a letter: parse_latex fails, parse_expr reads a symbol x_"),
    ("2.", "2", "2. is a float to math_equal's first step"),
    ("x=", "x", "a relation with no right side fails parse_latex"),
    ("\\infty!", "\\infty", "factorial(oo) is oo"),
    ("\\frac{1}{0}", "\\frac{2}{0}", "division by zero"),
    ("(\\sin x+1)^3", "\\sin^3x+3\\sin^2x+3\\sin x+1", "expansion with powers of sin"),
    ("3\\log(\\sqrt{\\pi})", "\\frac{3\\log(\\pi)}{2}", "log of a square root"),
    ("\\log(x^2)", "2\\log(x)", "log(x^2) is not 2 log(x) for every x"),
    ("\\frac{(\\sqrt{2}+\\pi)^{\\frac{3}{2}}}{3}", "\\frac{\\sqrt{2}\\sqrt{\\sqrt{2}+\\pi}}{3}+\\frac{\\pi\\sqrt{\\sqrt{2}+\\pi}}{3}",
     "a^{3/2} against a*sqrt(a) spread over a's terms"),
    ("(e^{\\frac{1}{2}-\\pi}+e)^{3}", "\\frac{e^{\\frac{3}{2}}}{e^{3\\pi}}+\\frac{3e^{2}}{e^{2\\pi}}+\\frac{3e^{\\frac{5}{2}}}{e^{\\pi}}+e^{3}",
     "powers of the symbol e with sums in the exponent"),
]


def binomial_expansion(n):
    """(x+1)^n written out: 1x^{n}+nx^{n-1}+...+1."""
    return "+".join(f"{math.comb(n, k)}x^{{{k}}}" if k else "1" for k in range(n, -1, -1))


CASES = [(p, g if g is not None else binomial_expansion(150), n) for p, g, n in CASES]

# Cases where rho's verdict is not the harness's, each with the reason (tests/test_harness_grader_table.cpp).
RHO_DIFFERS = {
    ("\\int_0^1xdx", "\\frac{1}{2}"): "rho does not read integrals; sympy's simplify evaluates the Integral",
    ("\\lim_{x\\to0}\\frac{\\sin x}{x}", "1"): "rho does not read limits; sympy's simplify evaluates the Limit",
    ("9^{9^{9}}", "9^{9^{9}}+1"): "sympy's float(N(.)) of both sides overflows to inf and math.isclose(inf, inf) "
                                  "is true; rho builds no number past 10^5 bits, so reads neither side",
    ("(x+1)^{150}", binomial_expansion(150)): "sympy's simplify runs past the harness's 3 s (so False); "
                                              "GiNaC expands it in milliseconds and finds them equal",
    ("\\frac{(\\sqrt{2}+\\pi)^{\\frac{3}{2}}}{3}", "\\frac{\\sqrt{2}\\sqrt{\\sqrt{2}+\\pi}}{3}+\\frac{\\pi\\sqrt{\\sqrt{2}+\\pi}}{3}"):
        "sympy's simplify factors a out of a's terms and proves it; rho treats a^{3/2} and sqrt(a) "
        "as unrelated in normal() (it does not reduce modulo sqrt(a)^2 = a)",
    ("(e^{\\frac{1}{2}-\\pi}+e)^{3}", "\\frac{e^{\\frac{3}{2}}}{e^{3\\pi}}+\\frac{3e^{2}}{e^{2\\pi}}+\\frac{3e^{\\frac{5}{2}}}{e^{\\pi}}+e^{3}"):
        "equal (z^(a+b) = z^a z^b for principal powers); GiNaC's expand() splits the exponents and "
        "finds it, sympy's simplify does not",
}


LATEX2SYMPY2 = "installed"


def stub_missing_modules():
    """latex2sympy2 (and, under Debian's python3, regex) may be missing; grader.py imports both."""
    global LATEX2SYMPY2
    try:
        import latex2sympy2  # noqa: F401
    except ImportError:
        LATEX2SYMPY2 = "stand-in that raises"
        stub = types.ModuleType("latex2sympy2")

        def latex2sympy(_s):
            raise ImportError("latex2sympy2 is not installed")
        stub.latex2sympy = latex2sympy
        sys.modules["latex2sympy2"] = stub
    try:
        import regex  # noqa: F401
    except ImportError:
        sys.modules["regex"] = re  # grader.py uses regex.sub and regex.match only, as re has them


def pretend_antlr_4_11():
    import sympy.parsing.latex._parse_latex_antlr as antlr_parser
    real_version = antlr_parser.version
    antlr_parser.version = lambda name: "4.11.1" if name == "antlr4-python3-runtime" else real_version(name)


def load_grader(path):
    spec = importlib.util.spec_from_file_location("harness_grader", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _judge(grader, pred, gold, queue):
    # The antlr runtime prints a version warning on stdout each parse; keep the child quiet.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        queue.put(bool(grader.math_equal(pred, gold)))


def harness_verdict(grader, pred, gold):
    """(verdict, timed_out): math_equal in a child process, False when it runs past 3 s."""
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=_judge, args=(grader, pred, gold, queue))
    child.start()
    child.join(TIMEOUT_S)
    if child.is_alive():
        child.kill()
        child.join()
        return False, True
    return queue.get(), False


def latex_parses(grader, s):
    """Whether grader.py's parse_latex returns on s (as symbolic_equal first tries it)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            grader.parse_latex(s)
            return True
        except Exception:
            return False


def versions():
    out = {"python": platform.python_version(), "executable": sys.executable}
    for name in ("sympy", "antlr4-python3-runtime"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            import sympy
            out[name] = sympy.__version__ if name == "sympy" else "unknown"
    return out


def build_rows(grader):
    rows = []
    for pred, gold, note in CASES:
        verdict, timed_out = harness_verdict(grader, pred, gold)
        row = {"pred": pred, "gold": gold, "harness": verdict,
               "latex": [latex_parses(grader, pred), latex_parses(grader, gold)], "note": note}
        if timed_out:
            row["timeout"] = True
        if (pred, gold) in RHO_DIFFERS:
            row["rho_differs"] = RHO_DIFFERS[(pred, gold)]
        rows.append(row)
    return rows


def compare(rows, other_path):
    """Prints the cases whose verdict or parse_latex result differs from other_path's table."""
    other = {(r["pred"], r["gold"]): r for r in map(json.loads, open(other_path)) if "pred" in r}
    verdicts = [r for r in rows if (r["pred"], r["gold"]) in other and other[(r["pred"], r["gold"])]["harness"] != r["harness"]]
    unparsed = [r for r in rows if (r["pred"], r["gold"]) in other and
                any(o and not m for o, m in zip(other[(r["pred"], r["gold"])]["latex"], r["latex"]))]
    print(f"{len(verdicts)} of {len(rows)} verdicts differ from {other_path}; "
          f"parse_latex failed here on a side it read there in {len(unparsed)} cases")
    for r in verdicts:
        print(f"  verdict {r['harness']} here: {r['pred']!r} vs {r['gold']!r}")
    for r in unparsed:
        print(f"  not parsed here: {r['pred']!r} vs {r['gold']!r} (latex here {r['latex']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grader", default=os.environ.get("HARNESS_GRADER"), help="path of the harness's grader.py")
    ap.add_argument("--out", help="where to write the table (JSON lines)")
    ap.add_argument("--pretend-antlr-4.11", dest="pretend", action="store_true",
                    help="let sympy's parse_latex run with an antlr runtime newer than 4.11")
    ap.add_argument("--compare", help="a table made elsewhere to compare verdicts with")
    args = ap.parse_args()
    if not args.grader:
        ap.error("give --grader PATH or set HARNESS_GRADER")
    stub_missing_modules()
    if args.pretend:
        pretend_antlr_4_11()
    grader = load_grader(args.grader)
    rows = build_rows(grader)
    meta = {"generated_by": "scripts/harness/grader_table.py", "grader": "math-evaluation-harness grader.py @ dcfa46a2",
            "timeout_s": TIMEOUT_S, "latex2sympy2": LATEX2SYMPY2,
            **versions(), "cases": len(rows), "true": sum(r["harness"] for r in rows),
            "timeouts": sum(r.get("timeout", False) for r in rows),
            "latex_unparsed_cases": sum(not all(r["latex"]) for r in rows)}
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(meta) + "\n")
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(json.dumps(meta))
    if args.compare:
        compare(rows, args.compare)


if __name__ == "__main__":
    main()
