// Python's string semantics, as far as the ports of the math-evaluation-harness need them
// (eval/harness/answer.h, eval/harness/math_tasks.h): the harness is Python, and its answers depend on
// what str.strip(), float(), str(float) and \W mean there. Text is UTF-8.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rho::py {

// One code point of UTF-8 text: its value and byte length (invalid bytes: U+FFFD, 1 byte).
struct CodePoint {
  uint32_t cp;
  size_t len;
};
CodePoint decode_at(const std::string& s, size_t i);

// str.isspace() of one code point (Unicode White_Space plus \x1c-\x1f, as CPython).
bool is_space(uint32_t cp);
// Whether re's \w matches the code point (str.isalnum() or '_'); ASCII exactly, the rest by the
// C.UTF-8 locale's classification.
bool is_word(uint32_t cp);

// len(s): code points.
size_t length(const std::string& s);

std::string strip(const std::string& s);
std::string lstrip(const std::string& s);
std::string rstrip(const std::string& s);
// str.rstrip(chars) with ASCII chars.
std::string rstrip_chars(const std::string& s, const std::string& chars);
std::string lower_ascii(std::string s);

// str.replace(old, new) (every occurrence, left to right, non-overlapping).
std::string replace_all(const std::string& s, const std::string& from, const std::string& to);
// str.split(sep) (sep non-empty).
std::vector<std::string> split(const std::string& s, const std::string& sep);
// str.split() with no argument: runs of whitespace, ends dropped.
std::vector<std::string> split_ws(const std::string& s);
bool contains(const std::string& s, const std::string& part);
bool starts_with(const std::string& s, const std::string& prefix);
bool ends_with(const std::string& s, const std::string& suffix);

// float(s): surrounding whitespace, sign, digits with single underscores between them, a
// fraction, an exponent, inf/infinity/nan in any case. nullopt where Python raises ValueError.
std::optional<double> parse_float(const std::string& s);
// repr(x) / str(x) of a float: the shortest digits that read back, "1e-05" / "1e+16" outside
// [1e-4, 1e16), ".0" on integral values, "inf", "nan".
std::string float_repr(double x);
// str(value) of a parsed JSON value, as Python's json.loads + str() would give it: ints as
// digits, floats by float_repr, strings as themselves, lists and dicts by repr.
std::string str_of(const nlohmann::json& value);
// repr(str).
std::string repr(const std::string& s);

// eval() of a Python list literal of string literals: "['a ) 1', \"b ) 2\"]". nullopt when the
// text is not one.
std::optional<std::vector<std::string>> parse_str_list(const std::string& s);

}  // namespace rho::py
