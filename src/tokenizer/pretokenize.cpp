#include "tokenizer/pretokenize.h"

#include <cstdint>

#include "tokenizer/unicode.h"

namespace rho::tok {
namespace {

using unicode::Cls;

constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Char {
  size_t off;
  int32_t cp;
  Cls cls;
};

// One pass of the scanner over a decoded string: match(i) returns how many characters the
// pattern matches at character i (0: none), trying the alternatives in order as the regex does.
class Scanner {
 public:
  Scanner(const SplitPattern& p, const std::vector<Char>& c) : p_(p), c_(c), n_(c.size() - 1) {}

  size_t match(size_t i) const {
    if (size_t m = contraction(i)) return m;
    return p_.family == SplitPattern::Family::kGpt2 ? gpt2(i) : llama3(i);
  }

 private:
  bool is(size_t i, Cls k) const { return i < n_ && c_[i].cls == k; }
  bool cp_is(size_t i, int32_t cp) const { return i < n_ && c_[i].cp == cp; }
  bool crlf(size_t i) const { return cp_is(i, '\r') || cp_is(i, '\n'); }
  size_t run(size_t i, Cls k) const {  // end of the run of class k starting at i
    while (is(i, k)) ++i;
    return i;
  }
  // The letter after the apostrophe, folded as (?i) folds it: ASCII case and U+017F (long s).
  int32_t folded(size_t i) const {
    if (i >= n_) return 0;
    int32_t c = c_[i].cp;
    if (!p_.ci_contractions) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    return c == 0x17F ? 's' : c;
  }
  size_t contraction(size_t i) const {
    if (!cp_is(i, '\'')) return 0;
    const int32_t a = folded(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    const int32_t b = folded(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }
  // \s+(?!\S)|\s+ : a whitespace run, less its last character when a non-space follows it.
  size_t spaces(size_t i) const {
    const size_t end = run(i, Cls::kSpace);
    if (end == i) return 0;
    if (end == n_ || end - i == 1) return end - i;
    return end - 1 - i;
  }
  size_t gpt2(size_t i) const {
    const size_t j = cp_is(i, ' ') ? i + 1 : i;  // the optional leading space
    for (Cls k : {Cls::kLetter, Cls::kNumber, Cls::kOther})
      if (is(j, k)) return run(j, k) - i;
    return spaces(i);
  }
  size_t llama3(size_t i) const {
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (i < n_ && !crlf(i) && !is(i, Cls::kLetter) && !is(i, Cls::kNumber) && is(i + 1, Cls::kLetter))
      return run(i + 1, Cls::kLetter) - i;
    if (is(i, Cls::kLetter)) return run(i, Cls::kLetter) - i;
    // \p{N}{1,k}
    if (is(i, Cls::kNumber)) {
      size_t end = run(i, Cls::kNumber);
      if (p_.max_digits && end - i > p_.max_digits) end = i + p_.max_digits;
      return end - i;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const size_t j = cp_is(i, ' ') ? i + 1 : i;
    if (is(j, Cls::kOther)) {
      size_t end = run(j, Cls::kOther);
      while (crlf(end)) ++end;
      return end - i;
    }
    // \s*[\r\n]+ : up to the last line break inside the whitespace run.
    const size_t end = run(i, Cls::kSpace);
    for (size_t k = end; k > i; --k)
      if (crlf(k - 1)) return k - i;
    return spaces(i);
  }

  const SplitPattern& p_;
  const std::vector<Char>& c_;
  const size_t n_;
};

}  // namespace

std::optional<SplitPattern> recognize_split_regex(std::string_view regex) {
  if (regex == kGpt2Regex) return gpt2_pattern();
  if (regex == kLlama3Regex) return SplitPattern{SplitPattern::Family::kLlama3, true, 3};
  if (regex == kQwen2Regex) return SplitPattern{SplitPattern::Family::kLlama3, true, 1};
  return std::nullopt;
}

SplitPattern gpt2_pattern() { return SplitPattern{SplitPattern::Family::kGpt2, false, 0}; }

void split_pieces(const SplitPattern& p, std::string_view s, std::vector<std::pair<size_t, size_t>>& out) {
  // Decoded once into a per-thread buffer, with a sentinel holding the end offset.
  thread_local std::vector<Char> chars;
  chars.clear();
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const int32_t cp = unicode::decode(s, i, &len);
    chars.push_back(Char{i, cp, unicode::classify(cp)});
    i += len;
  }
  chars.push_back(Char{s.size(), 0, Cls::kOther});
  const Scanner scan(p, chars);
  const size_t n = chars.size() - 1;
  size_t gap = 0;  // start of text no alternative matched (none do today: kept for exactness)
  for (size_t i = 0; i < n;) {
    const size_t m = scan.match(i);
    if (m == 0) {
      ++i;
      continue;
    }
    if (gap < i) out.emplace_back(chars[gap].off, chars[i].off);
    out.emplace_back(chars[i].off, chars[i + m].off);
    i += m;
    gap = i;
  }
  if (gap < n) out.emplace_back(chars[gap].off, chars[n].off);
}

}  // namespace rho::tok
