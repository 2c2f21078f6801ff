#include "common/pytext.h"

#include <locale.h>
#include <wctype.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace rho::py {

CodePoint decode_at(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return {c, 1};
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return {0xFFFD, 1};
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return {0xFFFD, 1};
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  return {cp, n};
}

bool is_space(uint32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20)) return true;
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_word(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  // Numeric characters are alnum for Python but not for glibc: superscripts, fractions,
  // sub/superscript block, number forms, circled and enclosed numbers.
  if (cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE) || (cp >= 0x2070 && cp <= 0x209F) ||
      (cp >= 0x2150 && cp <= 0x218F) || (cp >= 0x2460 && cp <= 0x24FF) || (cp >= 0x2776 && cp <= 0x2793))
    return true;
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
  if (!utf8) return true;  // no classification at hand: letters are the common case
  return iswalnum_l(static_cast<wint_t>(cp), utf8) != 0;
}

size_t length(const std::string& s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) i += decode_at(s, i).len;
  return n;
}

namespace {

// Byte offset just past the leading whitespace / of the trailing whitespace.
size_t lead_end(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = decode_at(s, i);
    if (!is_space(c.cp)) break;
    i += c.len;
  }
  return i;
}

size_t trail_start(const std::string& s, size_t from) {
  size_t end = from;
  for (size_t i = from; i < s.size();) {
    const auto c = decode_at(s, i);
    i += c.len;
    if (!is_space(c.cp)) end = i;
  }
  return end;
}

}  // namespace

std::string strip(const std::string& s) {
  const size_t a = lead_end(s);
  return s.substr(a, trail_start(s, a) - a);
}
std::string lstrip(const std::string& s) { return s.substr(lead_end(s)); }
std::string rstrip(const std::string& s) { return s.substr(0, trail_start(s, 0)); }

std::string rstrip_chars(const std::string& s, const std::string& chars) {
  size_t end = s.size();
  while (end > 0 && chars.find(s[end - 1]) != std::string::npos) --end;
  return s.substr(0, end);
}

std::string lower_ascii(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return s;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  size_t i = 0;
  for (size_t at; (at = s.find(from, i)) != std::string::npos; i = at + from.size()) out += s.substr(i, at - i) + to;
  return out + s.substr(i);
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (size_t at; (at = s.find(sep, i)) != std::string::npos; i = at + sep.size()) out.push_back(s.substr(i, at - i));
  out.push_back(s.substr(i));
  return out;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    const auto c = decode_at(s, i);
    if (is_space(c.cp)) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += s.substr(i, c.len);
    }
    i += c.len;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

std::optional<double> parse_float(const std::string& text) {
  const std::string s = lower_ascii(strip(text));
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  const std::string rest = s.substr(i);
  if (rest == "inf" || rest == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (rest == "nan") return std::nan("");
  // Digits with single underscores between digits (PEP 515); returns the digits or nullopt.
  auto digits = [&](size_t& j) -> std::optional<std::string> {
    std::string d;
    while (j < s.size()) {
      if (s[j] >= '0' && s[j] <= '9') {
        d += s[j++];
      } else if (s[j] == '_' && !d.empty() && j + 1 < s.size() && s[j + 1] >= '0' && s[j + 1] <= '9') {
        ++j;
      } else {
        break;
      }
    }
    if (j < s.size() && s[j] == '_') return std::nullopt;
    return d;
  };
  auto whole = digits(i);
  if (!whole) return std::nullopt;
  std::string num = *whole;
  if (i < s.size() && s[i] == '.') {
    ++i;
    auto frac = digits(i);
    if (!frac) return std::nullopt;
    if (whole->empty() && frac->empty()) return std::nullopt;
    num += "." + *frac;
  } else if (whole->empty()) {
    return std::nullopt;
  }
  if (i < s.size() && s[i] == 'e') {
    ++i;
    std::string e = "e";
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) e += s[i++];
    auto ed = digits(i);
    if (!ed || ed->empty()) return std::nullopt;
    num += e + *ed;
  }
  if (i != s.size()) return std::nullopt;
  const double v = std::strtod(num.c_str(), nullptr);
  return negative ? -v : v;
}

std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[64];
  int prec = 0;
  for (; prec < 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  // buf: [-]d[.ddd]e[+-]XX
  std::string b = buf, sign;
  if (b[0] == '-') sign = "-", b = b.substr(1);
  const size_t e = b.find('e');
  std::string digits;
  for (size_t k = 0; k < e; ++k)
    if (b[k] != '.') digits += b[k];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int decpt = std::atoi(b.c_str() + e + 1) + 1;  // value = 0.DIGITS x 10^decpt
  std::string out;
  if (decpt <= -4 || decpt > 16) {
    const int ex = decpt - 1;
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", ex < 0 ? '-' : '+', std::abs(ex));
    out = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "") + eb;
  } else if (decpt <= 0) {
    out = "0." + std::string(size_t(-decpt), '0') + digits;
  } else if (size_t(decpt) >= digits.size()) {
    out = digits + std::string(size_t(decpt) - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
  }
  return sign + out;
}

std::string repr(const std::string& s) {
  const char q = (contains(s, "'") && !contains(s, "\"")) ? '"' : '\'';
  std::string out(1, q);
  for (size_t i = 0; i < s.size();) {
    const auto c = decode_at(s, i);
    char esc[16];
    if (c.cp == '\\') out += "\\\\";
    else if (c.cp == uint32_t(q)) out += std::string("\\") + q;
    else if (c.cp == '\n') out += "\\n";
    else if (c.cp == '\r') out += "\\r";
    else if (c.cp == '\t') out += "\\t";
    else if (c.cp < 0x20 || (c.cp >= 0x7F && c.cp <= 0xA0) || c.cp == 0xAD) {
      std::snprintf(esc, sizeof esc, "\\x%02x", c.cp);
      out += esc;
    } else if (c.cp == 0x1680 || (c.cp >= 0x2000 && c.cp <= 0x200F) || (c.cp >= 0x2028 && c.cp <= 0x202F) ||
               (c.cp >= 0x205F && c.cp <= 0x206F) || c.cp == 0x3000 || c.cp == 0xFEFF) {
      std::snprintf(esc, sizeof esc, "\\u%04x", c.cp);
      out += esc;
    } else {
      out += s.substr(i, c.len);
    }
    i += c.len;
  }
  return out + q;
}

std::string str_of(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::string: return v.get<std::string>();
    case nlohmann::json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case nlohmann::json::value_t::number_float: return float_repr(v.get<double>());
    case nlohmann::json::value_t::boolean: return v.get<bool>() ? "True" : "False";
    case nlohmann::json::value_t::null: return "None";
    case nlohmann::json::value_t::array: {
      std::string out = "[";
      for (size_t k = 0; k < v.size(); ++k)
        out += (k ? ", " : "") + (v[k].is_string() ? repr(v[k].get<std::string>()) : str_of(v[k]));
      return out + "]";
    }
    default: {  // objects: keys in the parser's order (alphabetical), not the file's
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it, first = false)
        out += (first ? "" : ", ") + repr(it.key()) + ": " + (it->is_string() ? repr(it->get<std::string>()) : str_of(*it));
      return out + "}";
    }
  }
}

std::optional<std::vector<std::string>> parse_str_list(const std::string& text) {
  const std::string s = strip(text);
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  };
  if (s.empty() || s[0] != '[') return std::nullopt;
  ++i;
  std::vector<std::string> out;
  ws();
  while (i < s.size() && s[i] != ']') {
    if (s[i] == 'u' || s[i] == 'r') return std::nullopt;  // prefixed literals: not in the data sets
    if (s[i] != '\'' && s[i] != '"') return std::nullopt;
    const char q = s[i++];
    std::string item;
    while (i < s.size() && s[i] != q) {
      if (s[i] != '\\') {
        item += s[i++];
        continue;
      }
      if (++i >= s.size()) return std::nullopt;
      const char e = s[i++];
      switch (e) {
        case 'n': item += '\n'; break;
        case 't': item += '\t'; break;
        case 'r': item += '\r'; break;
        case '\\': case '\'': case '"': item += e; break;
        default: item += '\\', item += e;  // Python keeps unknown escapes as written
      }
    }
    if (i >= s.size()) return std::nullopt;
    ++i;
    out.push_back(item);
    ws();
    if (i < s.size() && s[i] == ',') ++i, ws();
    else if (i < s.size() && s[i] != ']') return std::nullopt;
  }
  if (i + 1 != s.size()) return std::nullopt;
  return out;
}

}  // namespace rho::py
