// Answer extraction and normalisation as the Rho-1 paper's evaluation harness does it
// (ZubinGou/math-evaluation-harness, parser.py at commit dcfa46a2: extract_answer,
// extract_multi_choice_answer, strip_string; word2number 1.1's word_to_num), written anew in
// C++ from reading that code. Quirks are kept on purpose: results must be comparable with the
// paper's tables, so "answer is also" reads as choice A there and here.
//
// rho's one math grader: `rho eval fewshot` grades every task, and its custom-exemplar mode,
// with these functions (through math_tasks.h's grade_math).
#pragma once
#include <optional>
#include <string>

namespace rho::harness {

// strip_string(): units, \text{}, dollars, percent signs, "x=" prefixes, trailing ".0",
// spaces, \frac and a/b forms normalised. Idempotent in practice; the harness applies it twice.
std::string strip_string(const std::string& s);

// extract_answer(pred, data_name): for mmlu_stem, sat_math and mathqa the letter after
// "answer is" (or "placeholder"); otherwise, in order: Minerva's "final answer is $...$. I hope",
// the last \boxed{}, "he answer is", "final answer is", the last number. Then strip_string.
std::string extract_answer(const std::string& completion, const std::string& task);

// word2number's word_to_num(): "twenty one" -> "21", "five point two" -> "5.2"; nullopt where it
// raises (no number words, "thousand" twice, ...). Digit strings come back as int(s) ("007" -> "7").
std::optional<std::string> word_to_num(const std::string& s);

// grader.py's math_equal(prediction, reference) (include_percentage, is_close): equal strings;
// both numbers and equal within rel. 1e-4 of the reference, its /100 or its x100; brackets and
// braces ignored; tuples and pmatrix entries element-wise; "x = v" against v; then sympy's
// symbolic equivalence, here with the GiNaC computer-algebra library (eval/harness/expr.h).
bool math_equal(const std::string& prediction, const std::string& reference);

}  // namespace rho::harness
