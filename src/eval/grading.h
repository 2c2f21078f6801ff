// Grading math answers as the Rho-1 paper's harness does (pure string work, no model): answer
// extraction in a fixed order, numeric comparison with a relative tolerance of 1e-4.
//
// Extraction order (first rule that applies wins; each yields a text *segment*):
//   1. `final answer is $...$`  -> the text between the dollars
//   2. the last `\boxed{...}`   -> its content (nested braces matched)
//   3. `the answer is ...`      -> the text after the last occurrence, up to the end of its line
//   4. `final answer is ...`    -> likewise
//   5. otherwise                -> the last number anywhere in the text
// A segment is then reduced to its first number (so "The answer is $1,234 dollars." gives 1234);
// a segment with no number is kept as normalized text and graded by string equality.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rho {

struct Extraction {
  std::string answer;  // normalized: "1234", "-0.5", "0.75" (from 3/4), or cleaned text; "" = none
  std::string rule;    // "final-answer-dollar" | "boxed" | "the-answer-is" | "final-answer-is" |
                       // "last-number" | "none"
};

Extraction extract_answer(const std::string& completion);

// The first number of `s`, normalized: thousands commas ("1,234"), a leading `$`, a trailing `%`,
// a sign, decimals ("3.50" -> 3.5), fractions "3/4" and \frac{3}{4} -> 0.75.
std::optional<double> first_number(const std::string& s);
// The last number of `s` (same forms as first_number).
std::optional<double> last_number(const std::string& s);
// Shortest text that reads back as v ("1234", "0.75", "-3").
std::string format_number(double v);

// Both numeric: |a - b| <= 1e-4 * max(|a|, |b|) (Python's math.isclose(rel_tol=1e-4)).
// Otherwise: equal after normalization (spaces, `$`, trailing period dropped).
bool answers_match(const std::string& predicted, const std::string& gold);

// GSM8K gold answer: the number after `####`, commas removed. Without `####`, the answer text is
// run through extract_answer.
std::string gold_answer(const std::string& answer_text);

// Removes GSM8K calculator annotations `<<48/2=24>>`.
std::string strip_calculator(const std::string& s);

// A GSM8K solution rewritten as a few-shot exemplar: calculator marks removed and the final
// `#### n` line turned into "The answer is n." (the wording of the paper's exemplars, which
// extraction rule 3 reads back).
std::string exemplar_answer(const std::string& answer_text);

// 95% Wilson score interval of a binomial proportion k/n (n > 0).
struct Interval {
  double lo = 0, hi = 0;
};
Interval wilson_interval(int64_t k, int64_t n, double z = 1.959963984540054);

}  // namespace rho
