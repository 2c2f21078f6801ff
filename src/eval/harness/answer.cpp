#include "eval/harness/answer.h"

#include <vector>

#include "common/pytext.h"

namespace rho::harness {
namespace {

using py::contains;
using py::replace_all;

// parser.py's unit_texts (mainly from MathQA), then each with an "s" appended. Each is a regular
// expression there: '.' matches any character.
const std::vector<std::string>& unit_texts() {
  static const std::vector<std::string> units = [] {
    std::vector<std::string> u = {
        "east", "degree", "mph", "kmph", "ft", "m sqaure", " m east", "sq m", "deg", "mile",
        "q .", "monkey", "prime", "ratio", "profit of rs", "rd", "o", "gm",
        "p . m", "lb", "tile", "per", "dm", "lt", "gain", "ab", "way", "west",
        "a .", "b .", "c .", "d .", "e .", "f .", "g .", "h .", "t", "a", "h",
        "no change", "men", "soldier", "pie", "bc", "excess", "st",
        "inches", "noon", "percent", "by", "gal", "kmh", "c", "acre", "rise",
        "a . m", "th", "\xCF\x80 r 2", "sq", "mark", "l", "toy", "coin",
        "sq . m", "gallon", "\xC2\xB0 f", "profit", "minw", "yr", "women",
        "feet", "am", "pm", "hr", "cu cm", "square", "v \xC3\xA2 \xE2\x82\xAC \xE2\x84\xA2", "are",
        "rupee", "rounds", "cubic", "cc", "mtr", "s", "ohm", "number",
        "kmph", "day", "hour", "minute", "min", "second", "man", "woman",
        "sec", "cube", "mt", "sq inch", "mp", "\xE2\x88\x8F cm \xC2\xB3", "hectare", "more",
        "sec", "unit", "cu . m", "cm 2", "rs .", "rs", "kg", "g", "month",
        "km", "m", "cm", "mm", "apple", "liter", "loss", "yard",
        "pure", "year", "increase", "decrease", "d", "less", "Surface",
        "litre", "pi sq m", "s .", "metre", "meter", "inch",
    };
    const size_t n = u.size();
    for (size_t k = 0; k < n; ++k) u.push_back(u[k] + "s");
    return u;
  }();
  return units;
}

// Code points of UTF-8 text, with byte offsets (regex work is per character, as in Python).
struct Chars {
  std::vector<uint32_t> cp;
  std::vector<size_t> at;  // byte offset of each code point, plus the end
  explicit Chars(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
      const auto c = py::decode_at(s, i);
      cp.push_back(c.cp);
      at.push_back(i);
      i += c.len;
    }
    at.push_back(s.size());
  }
};

// re.sub(r"(^|\W)" + unit + r"($|\W)", r"\1\2", s): the unit removed where it stands alone;
// the boundary characters a match consumed are not boundaries for the next match.
std::string remove_unit(const std::string& s, const std::string& unit) {
  const Chars text(s), pat(unit);
  const size_t n = text.cp.size(), m = pat.cp.size();
  auto unit_at = [&](size_t i) {
    if (i + m > n) return false;
    for (size_t k = 0; k < m; ++k)
      if (pat.cp[k] != '.' ? text.cp[i + k] != pat.cp[k] : text.cp[i + k] == '\n') return false;
    return true;
  };
  auto nonword = [&](size_t i) { return i < n && !py::is_word(text.cp[i]); };
  std::string out;
  size_t copied = 0;  // chars of text already emitted
  for (size_t i = 0; i < n;) {
    // Returns the match's end (chars) if the tail ($|\W) matches after a unit ending at e.
    auto tail = [&](size_t e) -> std::optional<size_t> {
      if (e == n) return e;
      if (nonword(e)) return e + 1;
      return std::nullopt;
    };
    std::optional<size_t> end;
    size_t unit_start = 0;
    if (i == 0 && unit_at(0)) {  // ^ is tried first
      if ((end = tail(m))) unit_start = 0;
    }
    if (!end && nonword(i) && unit_at(i + 1)) {
      if ((end = tail(i + 1 + m))) unit_start = i + 1;
    }
    if (!end) {
      ++i;
      continue;
    }
    // Keep everything up to the unit, drop the unit, keep the tail's character.
    out += s.substr(text.at[copied], text.at[unit_start] - text.at[copied]);
    out += s.substr(text.at[unit_start + m], text.at[*end] - text.at[unit_start + m]);
    copied = *end;
    i = *end;
  }
  return out + s.substr(text.at[copied]);
}

// re.sub(r"\\text\{(.*?)\}", r"\1", s) and, with keep = false, re.sub(r"\\mbox{.*?}", "", s).
std::string unwrap_command(const std::string& s, const std::string& cmd, bool keep) {
  std::string out;
  size_t i = 0;
  for (size_t at; (at = s.find(cmd + "{", i)) != std::string::npos;) {
    const size_t open = at + cmd.size() + 1, close = s.find('}', open);
    if (close == std::string::npos) break;
    out += s.substr(i, at - i) + (keep ? s.substr(open, close - open) : "");
    i = close + 1;
  }
  return out + s.substr(i);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// re.sub(r"(\d+)\.0*([^\d])", r"\1\2", s) then re.sub(r"(\d+)\.0*$", r"\1", s).
std::string drop_zero_fractions(const std::string& s) {
  std::string out;
  size_t i = 0, copied = 0;
  while (i < s.size()) {
    if (!is_digit(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_digit(s[j])) ++j;
    if (j < s.size() && s[j] == '.') {
      size_t k = j + 1;
      while (k < s.size() && s[k] == '0') ++k;
      // A non-digit after the zeros (one character; Python's [^\d] takes a whole code point,
      // and a multi-byte one is copied through unchanged either way).
      if (k < s.size() && !is_digit(s[k])) {
        out += s.substr(copied, j - copied);
        copied = k;  // the [^\d] character is kept: it is copied with the next chunk
        i = k + 1;
        continue;
      }
    }
    i = j;
  }
  std::string first = out + s.substr(copied);
  // The anchored form: digits, '.', zeros, end of string.
  size_t end = first.size(), k = end;
  while (k > 0 && first[k - 1] == '0') --k;
  if (k > 1 && first[k - 1] == '.' && is_digit(first[k - 2])) return first.substr(0, k - 1);
  return first;
}

// _fix_fracs: \frac12 -> \frac{1}{2}, \frac1{72} -> \frac{1}{72}; gives up (returns the input)
// on a \frac followed by fewer than two characters.
std::string fix_fracs(const std::string& s) {
  const auto parts = py::split(s, "\\frac");
  std::string out = parts[0];
  for (size_t k = 1; k < parts.size(); ++k) {
    const std::string& p = parts[k];
    out += "\\frac";
    if (!p.empty() && p[0] == '{') {
      out += p;
      continue;
    }
    if (p.size() < 2) return s;
    const std::string a(1, p[0]), b(1, p[1]);
    if (b != "{") out += "{" + a + "}{" + b + "}" + p.substr(2);
    else out += "{" + a + "}" + b + p.substr(2);
  }
  return out;
}

// int(x) for the strings _fix_a_slash_b meets: optional sign and ASCII digits. str(int(x)) is
// then the canonical form.
std::optional<std::string> int_text(const std::string& x) {
  const std::string t = py::strip(x);
  size_t i = t.size() && (t[0] == '+' || t[0] == '-') ? 1 : 0;
  if (i == t.size()) return std::nullopt;
  for (size_t k = i; k < t.size(); ++k)
    if (!is_digit(t[k]) && !(t[k] == '_' && k > i && k + 1 < t.size() && is_digit(t[k + 1]))) return std::nullopt;
  std::string digits;
  for (size_t k = i; k < t.size(); ++k)
    if (t[k] != '_') digits += t[k];
  size_t z = 0;
  while (z + 1 < digits.size() && digits[z] == '0') ++z;
  digits = digits.substr(z);
  return (t[0] == '-' && digits != "0" ? "-" : "") + digits;
}

// _fix_a_slash_b: "3/4" -> \frac{3}{4} when both sides are integers written canonically.
std::string fix_a_slash_b(const std::string& s) {
  const auto parts = py::split(s, "/");
  if (parts.size() != 2) return s;
  std::string a = parts[0], b = parts[1];
  if (!contains(a, "sqrt")) {
    auto v = int_text(a);
    if (!v) return s;
    a = *v;
  }
  if (!contains(b, "sqrt")) {
    auto v = int_text(b);
    if (!v) return s;
    b = *v;
  }
  if (s != a + "/" + b) return s;
  return "\\frac{" + a + "}{" + b + "}";
}

// re.sub(r"\\sqrt(\w+)", r"\\sqrt{\1}", s).
std::string fix_sqrt(const std::string& s) {
  std::string out;
  size_t i = 0;
  for (size_t at; (at = s.find("\\sqrt", i)) != std::string::npos;) {
    size_t j = at + 5;
    while (j < s.size()) {
      const auto c = py::decode_at(s, j);
      if (!py::is_word(c.cp)) break;
      j += c.len;
    }
    out += s.substr(i, at + 5 - i);
    if (j > at + 5) out += "{" + s.substr(at + 5, j - at - 5) + "}";
    i = j;
  }
  return out + s.substr(i);
}

// re.sub(r'\\begin\{array\}\{.*?\}', r'\\begin{pmatrix}', s).
std::string array_to_pmatrix(std::string s) {
  const std::string open = "\\begin{array}{";
  std::string out;
  size_t i = 0;
  for (size_t at; (at = s.find(open, i)) != std::string::npos;) {
    const size_t close = s.find('}', at + open.size());
    if (close == std::string::npos) break;
    out += s.substr(i, at - i) + "\\begin{pmatrix}";
    i = close + 1;
  }
  s = out + s.substr(i);
  return replace_all(replace_all(s, "\\end{array}", "\\end{pmatrix}"), "bmatrix", "pmatrix");
}

}  // namespace

std::string strip_string(const std::string& input) {
  std::string s = py::strip(input);
  s = replace_all(s, "\n", "");
  s = py::rstrip_chars(s, ".");
  s = replace_all(s, "\\!", "");
  s = array_to_pmatrix(s);
  s = replace_all(replace_all(s, "tfrac", "frac"), "dfrac", "frac");
  s = replace_all(replace_all(s, "\\left", ""), "\\right", "");
  s = replace_all(replace_all(s, "\\{", "{"), "\\}", "}");
  // A trailing \text{...} (from its first \text{ to a final "}") is a unit: dropped unless
  // nothing would remain. The harness strips the result even when there is none.
  {
    const size_t at = py::ends_with(s, "}") ? s.find("\\text{") : std::string::npos;
    const std::string cut = py::strip(at == std::string::npos ? s : s.substr(0, at));
    if (!cut.empty()) s = cut;
  }
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& unit : unit_texts()) {
      std::string t = remove_unit(s, unit);
      if (!t.empty()) s = t;
    }
  s = replace_all(replace_all(s, "^{\\circ}", ""), "^\\circ", "");
  s = replace_all(replace_all(s, "\\$", ""), "$", "");
  if (auto w = word_to_num(s)) s = *w;
  s = unwrap_command(s, "\\text", true);
  for (const char* key : {"x=", "y=", "z=", "x\\in", "y\\in", "z\\in", "x\\to", "y\\to", "z\\to"}) s = replace_all(s, key, "");
  s = replace_all(s, "\\emptyset", "{}");
  s = replace_all(s, "(-\\infty,\\infty)", "\\mathbb{R}");
  s = replace_all(replace_all(s, "\\%", ""), "%", "");
  s = replace_all(replace_all(s, " .", " 0."), "{.", "{0.");
  // (The harness's unwrapping of "{x}" when x.isalnum() can never fire: braces are not alnum.)
  s = replace_all(s, "infinity", "\\infty");
  if (!contains(s, "\\infty")) s = replace_all(s, "inf", "\\infty");
  s = replace_all(s, "+\\inity", "\\infty");
  s = replace_all(s, "and", "");
  s = replace_all(s, "\\mathbf", "");
  s = unwrap_command(s, "\\mbox", false);
  if (contains(s, "j") && !contains(s, "i")) s = replace_all(s, "j", "i");
  s = drop_zero_fractions(s);
  if (s.empty()) return s;
  if (s[0] == '.') s = "0" + s;
  const auto eq = py::split(s, "=");
  if (eq.size() == 2 && py::length(eq[0]) <= 2) s = eq[1];
  s = fix_sqrt(s);
  s = replace_all(s, " ", "");
  s = fix_fracs(s);
  return fix_a_slash_b(s);
}

}  // namespace rho::harness
