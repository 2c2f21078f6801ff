#include "eval/harness/expr_parse.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

namespace rho::harness {

using GiNaC::ex;
using GiNaC::ex_to;
using GiNaC::is_a;
using GiNaC::numeric;

GiNaC::ex SymbolTable::get(const std::string& name) {
  auto it = symbols_.find(name);
  if (it == symbols_.end()) it = symbols_.emplace(name, GiNaC::symbol(name)).first;
  return it->second;
}

bool has_symbols(const ex& e, SymbolTable& symbols) {
  if (is_a<GiNaC::symbol>(e)) return !symbols.is_infinity(e);
  for (size_t k = 0; k < e.nops(); ++k)
    if (has_symbols(e.op(k), symbols)) return true;
  return false;
}

namespace {

// Soft: this way of reading failed, another (or a shorter prefix) may do. Hard: the whole text is
// unreadable (sympy's lexer raised, or a number too large to hold).
struct SoftFail {};
struct HardFail {};

constexpr double kMaxBits = 1e5;   // exact numbers beyond this are not built
constexpr int kMaxDepth = 200;     // nesting; deeper texts are unreadable
constexpr size_t kMaxText = 10000;  // longer texts are unreadable

double bits_of(const numeric& n) {
  const numeric num = abs(n.numer()), den = n.denom();
  return std::log2(1.0 + num.to_double()) + std::log2(1.0 + den.to_double()) + 1.0;
}

// base^exponent, refusing exact powers whose value would take more than kMaxBits to hold.
ex bounded_power(const ex& base, const ex& exponent) {
  if (is_a<numeric>(base) && is_a<numeric>(exponent)) {
    const numeric b = ex_to<numeric>(base), e = ex_to<numeric>(exponent);
    if (b.is_rational() && e.is_rational()) {
      const double digits_of_b = std::isinf(bits_of(b)) ? kMaxBits : bits_of(b);
      const double magnitude = std::fabs(e.to_double());
      if (std::isinf(magnitude) || magnitude * digits_of_b > kMaxBits) throw HardFail{};
    }
  }
  return GiNaC::pow(base, exponent);
}

ex bounded_factorial(const ex& arg) {
  if (is_a<numeric>(arg) && ex_to<numeric>(arg).is_integer()) {
    if (ex_to<numeric>(arg) > 5000) throw HardFail{};
    if (ex_to<numeric>(arg) < 0) throw SoftFail{};  // sympy: factorial(-1) is zoo
  }
  return GiNaC::factorial(arg);
}

// binomial(n, k): a polynomial in n for a small integer k (sympy's simplify rewrites it so).
ex binomial_of(const ex& n, const ex& k, SymbolTable& symbols) {
  if (is_a<numeric>(k) && ex_to<numeric>(k).is_integer() && ex_to<numeric>(k) >= 0 && ex_to<numeric>(k) <= 64) {
    ex product = 1;
    const int kk = ex_to<numeric>(k).to_int();
    for (int i = 0; i < kk; ++i) product *= (n - i);
    return product / GiNaC::factorial(kk);
  }
  if (is_a<numeric>(n) && is_a<numeric>(k) && ex_to<numeric>(n).is_integer() && ex_to<numeric>(n) <= 100000)
    return GiNaC::binomial(n, k);
  std::ostringstream name;
  name << "binomial(" << n << "," << k << ")";
  return symbols.get(name.str());
}

// floor/ceiling: evaluated on real numbers (sympy's simplify does); opaque otherwise.
ex rounding_of(const ex& arg, bool ceiling, SymbolTable& symbols) {
  if (is_a<numeric>(arg) && ex_to<numeric>(arg).is_rational()) {
    const numeric n = ex_to<numeric>(arg), num = n.numer(), den = n.denom();
    const numeric fl = (num - GiNaC::mod(num, den)) / den;
    return ceiling && fl != n ? fl + 1 : fl;
  }
  if (!has_symbols(arg, symbols)) {
    const ex v = arg.evalf();
    if (is_a<numeric>(v) && ex_to<numeric>(v).is_real()) {
      const double d = ex_to<numeric>(v).to_double();
      if (std::isfinite(d) && std::fabs(d) < 1e15) return ex(numeric(long(ceiling ? std::ceil(d) : std::floor(d))));
    }
  }
  std::ostringstream name;
  name << (ceiling ? "ceiling(" : "floor(") << arg << ")";
  return symbols.get(name.str());
}

// A call of an unknown function f(args): a symbol named after the call, so equal calls are equal.
ex opaque_call(const std::string& fname, const std::vector<ex>& args, SymbolTable& symbols) {
  std::ostringstream name;
  name << fname << "(";
  for (size_t k = 0; k < args.size(); ++k) name << (k ? "," : "") << args[k];
  name << ")";
  return symbols.get(name.str());
}

// The named function of sympy's LaTeX grammar (sec, csc and cot as reciprocals).
ex apply_function(const std::string& name, const ex& a) {
  if (name == "sin") return GiNaC::sin(a);
  if (name == "cos") return GiNaC::cos(a);
  if (name == "tan") return GiNaC::tan(a);
  if (name == "csc") return 1 / GiNaC::sin(a);
  if (name == "sec") return 1 / GiNaC::cos(a);
  if (name == "cot") return 1 / GiNaC::tan(a);
  if (name == "asin") return GiNaC::asin(a);
  if (name == "acos") return GiNaC::acos(a);
  if (name == "atan") return GiNaC::atan(a);
  if (name == "acsc") return GiNaC::asin(1 / a);
  if (name == "asec") return GiNaC::acos(1 / a);
  if (name == "acot") return GiNaC::atan(1 / a);
  if (name == "sinh") return GiNaC::sinh(a);
  if (name == "cosh") return GiNaC::cosh(a);
  if (name == "tanh") return GiNaC::tanh(a);
  if (name == "asinh") return GiNaC::asinh(a);
  if (name == "acosh") return GiNaC::acosh(a);
  if (name == "atanh") return GiNaC::atanh(a);
  if (name == "exp") return GiNaC::exp(a);
  throw SoftFail{};
}

// |u| with u and -u read alike: sympy finds |x - 1| and |1 - x| equal.
ex abs_of(const ex& u) {
  const ex e = u.expand();
  return GiNaC::abs(e.compare(-e) <= 0 ? e : ex(-e));
}

// An exact number from its digits: "1,234.50" is 123450/100 (sympy's Float keeps 15 digits;
// exact here).
ex number_of(const std::string& int_digits, const std::string& frac_digits) {
  std::string all = int_digits + frac_digits;
  size_t nz = all.find_first_not_of('0');
  all = nz == std::string::npos ? "0" : all.substr(nz);
  if (all.size() > 1000) throw HardFail{};
  return numeric(all.c_str()) / GiNaC::pow(numeric(10), numeric(long(frac_digits.size())));
}

// ---------------------------------------------------------------------------------------------
// sympy's LaTeX lexer (LaTeX.g4): tokens, longest match first.

enum class T {
  kEnd, kError, kAdd, kSub, kMul, kDiv, kColon, kLParen, kRParen, kLBrace, kRBrace, kLBraceLit,
  kRBraceLit, kLBracket, kRBracket, kBar, kLBar, kRBar, kCaret, kUnderscore, kBang, kQuotes,
  kComma, kDot, kDigit, kLetter, kDifferential, kSymbol, kCommand, kRelation
};

struct Token {
  T type;
  std::string text;  // the digit or letter; a command's or symbol's name; a relation's operator
};

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

const std::set<std::string>& skipped_commands() {
  static const std::set<std::string> s = {"thinspace", "medspace", "thickspace", "quad", "qquad",
      "negthinspace", "negmedspace", "negthickspace", "vrule", "vcenter", "vbox", "vskip", "vspace", "hfil"};
  return s;
}

// Commands with a token of their own in the grammar; any other \name is a SYMBOL.
const std::set<std::string>& keyword_commands() {
  static const std::set<std::string> s = {"langle", "rangle", "lim", "to", "rightarrow", "Rightarrow",
      "longrightarrow", "Longrightarrow", "int", "sum", "prod", "exp", "log", "lg", "ln", "sin", "cos", "tan",
      "csc", "sec", "cot", "arcsin", "arccos", "arctan", "arccsc", "arcsec", "arccot", "sinh", "cosh", "tanh",
      "arsinh", "arcosh", "artanh", "lfloor", "rfloor", "lceil", "rceil", "sqrt", "overline", "frac", "dfrac",
      "tfrac", "binom", "dbinom", "tbinom", "mathit"};
  return s;
}

// \name after a backslash at s[i] (a letter follows); appends its token, or nothing if skipped.
size_t lex_command(const std::string& s, size_t i, std::vector<Token>& out) {
  size_t j = i + 1;
  while (j < s.size() && is_letter(s[j])) ++j;
  const std::string name = s.substr(i + 1, j - i - 1);
  if ((name == "left" || name == "right") && j < s.size() && s[j] == '|') {
    out.push_back({name == "left" ? T::kLBar : T::kRBar, ""});
    return j + 1;
  }
  if (name == "left" || name == "right" || skipped_commands().count(name)) return j;
  if (name == "times" || name == "cdot") out.push_back({T::kMul, ""});
  else if (name == "div") out.push_back({T::kDiv, ""});
  else if (name == "neq") out.push_back({T::kRelation, "!="});
  else if (name == "leq" || name == "le" || name == "leqq" || name == "leqslant") out.push_back({T::kRelation, "<="});
  else if (name == "geq" || name == "ge" || name == "geqq" || name == "geqslant") out.push_back({T::kRelation, ">="});
  else if (keyword_commands().count(name)) out.push_back({T::kCommand, name});
  else out.push_back({T::kSymbol, name});
  if (name == "int" && s.compare(j, 7, "\\limits") == 0 && !(j + 7 < s.size() && is_letter(s[j + 7]))) j += 7;
  return j;
}

// A backslash followed by a non-letter: spacing and ignored commands, \{ and \}; else an error.
size_t lex_escape(const std::string& s, size_t i, std::vector<Token>& out) {
  const char c = i + 1 < s.size() ? s[i + 1] : '\0';
  if (c && std::strchr(",:;!*-./\"(=", c)) return i + 2;
  if (c == '{' || c == '}') {
    out.push_back({c == '{' ? T::kLBraceLit : T::kRBraceLit, ""});
    return i + 2;
  }
  out.push_back({T::kError, ""});
  return s.size();
}

// 'd', spaces, then a letter or \name: one DIFFERENTIAL token ("dx"), longer than the letter d.
size_t lex_differential(const std::string& s, size_t i, std::vector<Token>& out) {
  size_t j = i + 1;
  while (j < s.size() && is_space(s[j])) ++j;
  if (j < s.size() && is_letter(s[j])) {
    out.push_back({T::kDifferential, std::string(1, s[j])});
    return j + 1;
  }
  if (j + 1 < s.size() && s[j] == '\\' && is_letter(s[j + 1])) {
    size_t k = j + 1;
    while (k < s.size() && is_letter(s[k])) ++k;
    out.push_back({T::kDifferential, s.substr(j + 1, k - j - 1)});
    return k;
  }
  out.push_back({T::kLetter, "d"});
  return i + 1;
}

size_t lex_relation(const std::string& s, size_t i, std::vector<Token>& out) {
  size_t j = i + 1;
  if (s[i] == '&') {  // '&' spaces '=' is an EQUAL; a lone '&' is no token
    while (j < s.size() && is_space(s[j])) ++j;
    if (j >= s.size() || s[j] != '=') {
      out.push_back({T::kError, ""});
      return s.size();
    }
    out.push_back({T::kRelation, "="});
    return j + 1;
  }
  if (s[i] == '=') {  // '=' spaces '&' is one EQUAL too
    size_t k = j;
    while (k < s.size() && is_space(s[k])) ++k;
    if (k < s.size() && s[k] == '&') j = k + 1;
  }
  out.push_back({T::kRelation, std::string(1, s[i])});
  return j;
}

std::vector<Token> lex_latex(const std::string& s) {
  static const std::map<char, T> single = {{'+', T::kAdd}, {'-', T::kSub}, {'*', T::kMul}, {'/', T::kDiv},
      {':', T::kColon}, {'(', T::kLParen}, {')', T::kRParen}, {'{', T::kLBrace}, {'}', T::kRBrace},
      {'[', T::kLBracket}, {']', T::kRBracket}, {'|', T::kBar}, {'^', T::kCaret}, {'_', T::kUnderscore},
      {'!', T::kBang}, {',', T::kComma}, {'.', T::kDot}};
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c)) ++i;
    else if (c == '\\' && i + 1 < s.size() && is_letter(s[i + 1])) i = lex_command(s, i, out);
    else if (c == '\\') i = lex_escape(s, i, out);
    else if (c == 'd') i = lex_differential(s, i, out);
    else if (is_letter(c)) out.push_back({T::kLetter, std::string(1, c)}), ++i;
    else if (is_digit(c)) out.push_back({T::kDigit, std::string(1, c)}), ++i;
    else if (c == '\'') {
      size_t j = i;
      while (j < s.size() && s[j] == '\'') ++j;
      out.push_back({T::kQuotes, s.substr(i, j - i)});
      i = j;
    } else if (c == '=' || c == '<' || c == '>' || c == '&') i = lex_relation(s, i, out);
    else if (single.count(c)) out.push_back({single.at(c), ""}), ++i;
    else out.push_back({T::kError, ""}), i = s.size();
  }
  out.push_back({T::kEnd, ""});
  return out;
}

// ---------------------------------------------------------------------------------------------
// sympy's LaTeX parser over those tokens. Where the grammar may stop or go on (a loop, an
// optional part, a choice), ANTLR's prediction goes on only if what follows can be read, else
// stops there: trying and backing out on SoftFail does the same. Once inside a construct that
// cannot stop early (a group after its '('), a failure fails the construct.

class LatexParser {
 public:
  LatexParser(std::vector<Token> tokens, SymbolTable& symbols) : tokens_(std::move(tokens)), symbols_(symbols) {}

  // math: relation. sympy's parser commits to a relation at its operator ("x=" is an error, where
  // "x+" is x), and a chain (a < b < c) is an error in its conversion.
  Reading relation() {
    Reading r;
    r.value = expr();
    if (peek().type != T::kRelation) return r;
    const std::string op = next().text;
    const ex rhs = committed([&] { return expr(); });
    if (peek().type == T::kRelation) throw HardFail{};
    return Reading{Reading::Kind::kRelation, ex(), op, r.value, rhs, {}};
  }

 private:
  std::vector<Token> tokens_;
  SymbolTable& symbols_;
  size_t pos_ = 0;
  int depth_ = 0;

  // The next token; sympy's lexer raises on text it has no token for, once the parser looks there.
  const Token& peek(size_t ahead = 0) const {
    const Token& t = tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
    if (t.type == T::kError) throw HardFail{};
    return t;
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool accept(T type) {
    if (peek().type != type) return false;
    next();
    return true;
  }
  void expect(T type) {
    if (!accept(type)) throw SoftFail{};
  }
  bool at_command(const char* name) const { return peek().type == T::kCommand && peek().text == name; }

  // Runs f; on SoftFail puts the position back and returns nullopt.
  template <class F>
  auto attempt(F f) -> std::optional<decltype(f())> {
    const size_t saved = pos_;
    try {
      return f();
    } catch (const SoftFail&) {
      pos_ = saved;
      return std::nullopt;
    }
  }

  // Runs f where sympy's parser has committed: a failure fails the whole text.
  template <class F>
  auto committed(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const SoftFail&) {
      throw HardFail{};
    }
  }

  struct DepthGuard {
    int& depth;
    explicit DepthGuard(int& d) : depth(d) {
      if (++depth > kMaxDepth) throw HardFail{};
    }
    ~DepthGuard() { --depth; }
  };

  ex expr() { return additive(); }

  ex additive() {
    ex v = mp(false);
    while (peek().type == T::kAdd || peek().type == T::kSub) {
      auto rhs = attempt([&] {
        const bool minus = next().type == T::kSub;
        const ex r = mp(false);
        return minus ? ex(-r) : r;
      });
      if (!rhs) break;
      v = v + *rhs;
    }
    return v;
  }

  ex mp(bool nofunc) {
    ex v = unary(nofunc);
    for (;;) {
      const T t = peek().type;
      if (t != T::kMul && t != T::kDiv && t != T::kColon) break;
      auto rhs = attempt([&] {
        const bool divide = next().type != T::kMul;
        const ex r = unary(nofunc);
        return divide ? ex(1 / r) : r;
      });
      if (!rhs) break;
      v = v * *rhs;
    }
    return v;
  }

  // unary: (+|-) unary | postfix+ (implicit products); unary_nofunc's later factors cannot be
  // function calls, so "\sin x \cos x" is sin(x) cos(x).
  ex unary(bool nofunc) {
    DepthGuard guard(depth_);
    if (accept(T::kAdd)) return unary(nofunc);
    if (accept(T::kSub)) return -unary(nofunc);
    std::vector<ex> factors{postfix(true)};
    while (auto f = attempt([&] { return postfix(!nofunc); })) factors.push_back(*f);
    return product_of(factors);
  }

  // convert_postfix_list: the product, except that a lone symbol x between two symbol-free
  // factors is read as a times sign.
  ex product_of(const std::vector<ex>& factors) {
    ex v = 1;
    for (size_t i = 0; i < factors.size(); ++i) {
      const bool times_sign = i > 0 && i + 1 < factors.size() && is_a<GiNaC::symbol>(factors[i]) &&
                              ex_to<GiNaC::symbol>(factors[i]).get_name() == "x" &&
                              !has_symbols(factors[i - 1], symbols_) && !has_symbols(factors[i + 1], symbols_);
      if (!times_sign) v = v * factors[i];
    }
    return v;
  }

  ex postfix(bool allow_func) {
    ex v = exp(allow_func);
    for (;;) {
      // sympy's eval-at bars (f|^{b}_{a}) never win over a closing |x| in its parser; not read here.
      if (!accept(T::kBang)) return v;
      v = symbols_.is_infinity(v) ? v : bounded_factorial(v);  // sympy: factorial(oo) is oo
    }
  }

  // exp: comp (^ (atom | {expr}) subexpr?)*, left to right: 2^3^2 is (2^3)^2.
  ex exp(bool allow_func) {
    ex v = comp(allow_func);
    while (peek().type == T::kCaret) {
      auto e = attempt([&] {
        next();
        const ex exponent = atom_or_braced();
        // A subscript after a power is read and dropped; once its _ is there it must be whole.
        if (peek().type == T::kUnderscore) committed([&] { return subexpr(); });
        return exponent;
      });
      if (!e) break;
      v = bounded_power(v, *e);
    }
    return v;
  }

  ex atom_or_braced() {
    if (accept(T::kLBrace)) {
      const ex v = expr();
      expect(T::kRBrace);
      return v;
    }
    return atom();
  }
  ex subexpr() {
    expect(T::kUnderscore);
    return atom_or_braced();
  }
  ex supexpr() {
    expect(T::kCaret);
    return atom_or_braced();
  }

  ex comp(bool allow_func) {
    DepthGuard guard(depth_);
    const Token& t = peek();
    if (t.type == T::kLParen) return closed(T::kRParen);
    if (t.type == T::kLBracket) return closed(T::kRBracket);
    if (t.type == T::kLBrace) return closed(T::kRBrace);
    if (t.type == T::kLBraceLit) return closed(T::kRBraceLit);
    if (t.type == T::kBar) return abs_of(closed(T::kBar));
    if (at_command("lfloor") || at_command("lceil")) {
      const bool ceiling = at_command("lceil");
      return rounding_of(closed(T::kCommand), ceiling, symbols_);
    }
    if (allow_func) {
      if (t.type == T::kLetter || t.type == T::kSymbol) {
        if (auto call = attempt([&] { return named_call(); })) return *call;
      } else if (t.type == T::kCommand && !is_atom_command(t.text)) {
        return func();
      }
    }
    return atom();
  }

  // An opening token, an expr, then the closing one (for floor and ceiling the matching command).
  ex closed(T close) {
    const std::string open = next().text;
    const ex v = expr();
    if (close == T::kCommand) {
      if (!at_command(open == "lfloor" ? "rfloor" : "rceil")) throw SoftFail{};
      next();
    } else {
      expect(close);
    }
    return v;
  }

  static bool is_atom_command(const std::string& name) {
    return name == "frac" || name == "dfrac" || name == "tfrac" || name == "binom" || name == "dbinom" ||
           name == "tbinom" || name == "mathit" || name == "langle";
  }

  // A letter or \name with an optional subscript and primes: its symbol's name, as sympy spells it.
  std::string decorated_name() {
    const Token& t = next();
    std::string name = t.text;
    std::string quotes;
    if (peek().type == T::kQuotes) quotes = next().text;
    if (peek().type == T::kUnderscore) {  // committed: "x_" is an error in sympy, not x
      std::ostringstream s;
      s << name << "_{" << committed([&] { return subexpr(); }) << "}";
      name = s.str();
    }
    if (quotes.empty() && peek().type == T::kQuotes) quotes = next().text;
    return t.type == T::kLetter ? name + quotes : name;
  }

  ex atom() {
    const Token& t = peek();
    if (t.type == T::kLetter) return symbols_.get(decorated_name());
    if (t.type == T::kSymbol) {
      const bool infinity = t.text == "infty";
      const std::string name = decorated_name();
      return infinity ? symbols_.infinity() : symbols_.get(name);
    }
    if (t.type == T::kDigit) return number();
    if (t.type == T::kDifferential) return symbols_.get("d" + next().text);
    if (t.type != T::kCommand) throw SoftFail{};
    if (t.text == "frac" || t.text == "dfrac" || t.text == "tfrac") return frac();
    if (t.text == "binom" || t.text == "dbinom" || t.text == "tbinom") {
      next();
      const ex n = braced(), k = braced();
      return binomial_of(n, k, symbols_);
    }
    if (t.text == "mathit") return mathit();
    if (t.text == "langle") throw HardFail{};  // bra-ket notation: not read here
    throw SoftFail{};
  }

  ex braced() {
    expect(T::kLBrace);
    const ex v = expr();
    expect(T::kRBrace);
    return v;
  }

  ex mathit() {
    next();
    expect(T::kLBrace);
    std::string text;
    while (peek().type == T::kLetter) text += next().text;
    expect(T::kRBrace);
    return symbols_.get(text);
  }

  // number: DIGIT+ (',' DIGIT DIGIT DIGIT)* ('.' DIGIT+)? (at most digit_limit_ digits, see
  // normal_function).
  static constexpr int kAnyDigits = 1 << 30;
  int digit_limit_ = kAnyDigits;
  int script_digits_ = 0;
  ex number() {
    std::string digits, fraction;
    while (peek().type == T::kDigit && int(digits.size()) < digit_limit_) digits += next().text;
    script_digits_ = std::max(script_digits_, int(digits.size()));
    if (digit_limit_ != kAnyDigits) return number_of(digits, "");
    while (auto group = attempt([&] {
             expect(T::kComma);
             std::string g;
             for (int k = 0; k < 3; ++k) {
               if (peek().type != T::kDigit) throw SoftFail{};
               g += next().text;
             }
             return g;
           }))
      digits += *group;
    if (accept(T::kDot)) {  // committed: "1." is an error in sympy
      if (peek().type != T::kDigit) throw HardFail{};
      while (peek().type == T::kDigit) fraction += next().text;
    }
    return number_of(digits, fraction);
  }

  // \frac{a}{b} or \frac12; \frac{d}{dx} and \frac{\partial}{\partial x} (derivatives) are not read.
  ex frac() {
    next();
    const ex upper = frac_part();
    const size_t lower_start = pos_;
    const ex lower = frac_part();
    const auto& lt = tokens_;
    if (pos_ - lower_start == 3 && lt[lower_start + 1].type == T::kDifferential) throw HardFail{};
    if (pos_ - lower_start == 4 && lt[lower_start + 1].type == T::kSymbol && lt[lower_start + 1].text == "partial")
      throw HardFail{};
    return upper / lower;
  }
  ex frac_part() {
    if (peek().type == T::kDigit) return number_of(next().text, "");
    return braced();
  }

  ex func();
  ex named_call();
  ex normal_function();
  ex sum_or_product();
  std::optional<ex> function_argument();
};

// (LETTER | SYMBOL) subscript? primes? '(' args ')': a call of an unknown function.
ex LatexParser::named_call() {
  const std::string name = decorated_name();
  expect(T::kLParen);
  std::vector<ex> args{expr()};
  while (accept(T::kComma)) args.push_back(expr());
  expect(T::kRParen);
  return opaque_call(name, args, symbols_);
}

ex LatexParser::func() {
  const std::string name = peek().text;
  if (name == "sqrt") {
    next();
    std::optional<ex> root;
    if (accept(T::kLBracket)) {
      root = expr();
      expect(T::kRBracket);
    }
    const ex base = braced();
    return root ? bounded_power(base, 1 / *root) : bounded_power(base, GiNaC::numeric(1, 2));
  }
  if (name == "overline") {
    next();
    return braced().conjugate();
  }
  if (name == "sum" || name == "prod") return sum_or_product();
  if (name == "int" || name == "lim") throw HardFail{};  // integrals and limits: not read here
  if (name == "langle" || name == "rangle" || name == "rfloor" || name == "rceil" || name == "to" ||
      name.find("arrow") != std::string::npos || name.find("Arrow") != std::string::npos)
    throw SoftFail{};
  return normal_function();
}

// func_normal (sub/superscripts) ( '(' func_arg ')' | func_arg_noparens ).
ex LatexParser::normal_function() {
  std::string name = next().text;
  std::optional<ex> sub, sup, arg;
  // ANTLR looks ahead past a number in a script: \log_28 is log base 2 of 8, since base 28 would
  // leave no argument. Try the scripts' numbers long, then shorter, until an argument follows.
  const size_t start = pos_;
  for (int limit = kAnyDigits; !arg;) {
    pos_ = start;
    sub = sup = std::nullopt;
    digit_limit_ = limit;
    script_digits_ = 0;
    for (int k = 0; k < 2; ++k) {
      if (!sub && peek().type == T::kUnderscore) sub = attempt([&] { return subexpr(); });
      else if (!sup && peek().type == T::kCaret) sup = attempt([&] { return supexpr(); });
    }
    digit_limit_ = kAnyDigits;
    const int longest = script_digits_;
    arg = function_argument();
    if (!arg && longest <= 1) throw SoftFail{};
    limit = longest - 1;
  }
  if (name.rfind("arc", 0) == 0) name = "a" + name.substr(3);
  else if (name == "arsinh" || name == "arcosh" || name == "artanh") name = "a" + name.substr(2);
  if (name == "log" || name == "lg" || name == "ln") {
    const ex base = sub ? *sub : name == "lg" ? ex(10) : ex(GiNaC::exp(1));
    const ex value = GiNaC::log(*arg) / GiNaC::log(base);
    return sup ? bounded_power(value, *sup) : value;
  }
  static const std::set<std::string> trig = {"sin", "cos", "tan", "csc", "sec", "cot", "sinh", "cosh", "tanh"};
  if (sup && trig.count(name) && sup->is_equal(-1)) return apply_function("a" + name, *arg);
  const ex value = apply_function(name, *arg);
  return sup ? bounded_power(value, *sup) : value;
}

// '(' func_arg ')' where it reads (only the first of several arguments counts), else mp_nofunc.
std::optional<ex> LatexParser::function_argument() {
  if (peek().type == T::kLParen) {
    auto in_parens = attempt([&] {
      next();
      const ex first = expr();
      while (accept(T::kComma)) expr();
      expect(T::kRParen);
      return first;
    });
    if (in_parens) return in_parens;
  }
  return attempt([&] { return mp(true); });
}

// \sum_{i=a}^{b} body and \prod: summed term by term for integer bounds (up to 1000 terms), as
// sympy's summation() evaluates them; symbolic bounds are not read here.
ex LatexParser::sum_or_product() {
  const bool sum = next().text == "sum";
  std::optional<ex> var, start, end;
  for (int k = 0; k < 2; ++k) {
    if (!var && accept(T::kUnderscore)) {
      expect(T::kLBrace);
      var = expr();
      if (peek().type != T::kRelation || peek().text != "=") throw SoftFail{};
      next();
      start = expr();
      expect(T::kRBrace);
    } else if (!end && peek().type == T::kCaret) {
      end = supexpr();
    } else {
      throw SoftFail{};
    }
  }
  const ex body = mp(false);
  if (!is_a<GiNaC::symbol>(*var) || !is_a<numeric>(*start) || !is_a<numeric>(*end)) throw HardFail{};
  const numeric a = ex_to<numeric>(*start), b = ex_to<numeric>(*end);
  if (!a.is_integer() || !b.is_integer() || b - a > 1000) throw HardFail{};
  ex total = sum ? 0 : 1;
  for (numeric i = a; i <= b; i += 1) total = sum ? total + body.subs(*var == i) : total * body.subs(*var == i);
  return total;
}

// ---------------------------------------------------------------------------------------------
// sympy's parse_expr: Python expressions with sympy's names, no implicit products.

struct PyToken {
  enum Kind { kEnd, kNumber, kName, kOp } kind;
  std::string text;
};

std::optional<std::vector<PyToken>> lex_python(const std::string& s) {
  std::vector<PyToken> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c)) {
      ++i;
    } else if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      size_t j = i;
      while (j < s.size() && (is_digit(s[j]) || s[j] == '.')) ++j;
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E') && j + 1 < s.size() &&
          (is_digit(s[j + 1]) || ((s[j + 1] == '-' || s[j + 1] == '+') && j + 2 < s.size() && is_digit(s[j + 2])))) {
        j += 2;
        while (j < s.size() && is_digit(s[j])) ++j;
      }
      out.push_back({PyToken::kNumber, s.substr(i, j - i)});
      i = j;
    } else if (is_letter(c) || c == '_') {
      size_t j = i;
      while (j < s.size() && (is_letter(s[j]) || is_digit(s[j]) || s[j] == '_')) ++j;
      out.push_back({PyToken::kName, s.substr(i, j - i)});
      i = j;
    } else if (s.compare(i, 2, "**") == 0) {
      out.push_back({PyToken::kOp, "**"});
      i += 2;
    } else if (std::strchr("+-*/()[]{},!", c)) {
      out.push_back({PyToken::kOp, std::string(1, c)});
      ++i;
    } else {
      return std::nullopt;  // ^ (xor), %, =, ... : not arithmetic as sympy reads it
    }
  }
  out.push_back({PyToken::kEnd, ""});
  return out;
}

// A Python decimal literal ("1.5", ".5", "1e3", "2.5E-2") as an exact number.
ex python_number(const std::string& text) {
  const size_t e = text.find_first_of("eE");
  const std::string mantissa = text.substr(0, e);
  const size_t dot = mantissa.find('.');
  if (dot != std::string::npos && mantissa.find('.', dot + 1) != std::string::npos) throw SoftFail{};
  const std::string int_part = dot == std::string::npos ? mantissa : mantissa.substr(0, dot);
  const std::string frac_part = dot == std::string::npos ? "" : mantissa.substr(dot + 1);
  ex v = number_of(int_part.empty() ? "0" : int_part, frac_part);
  if (e != std::string::npos) {
    const long exponent = std::stol(text.substr(e + 1));
    if (std::labs(exponent) > 1000) throw HardFail{};
    v = v * GiNaC::pow(numeric(10), numeric(exponent));
  }
  return v;
}

class PlainParser {
 public:
  PlainParser(std::vector<PyToken> tokens, SymbolTable& symbols) : tokens_(std::move(tokens)), symbols_(symbols) {}

  // The whole text: one expression, or a tuple of them ("1, 2").
  Reading top() {
    Reading r = sequence(PyToken::kEnd, "", Reading::Kind::kTuple);
    if (tokens_[pos_].kind != PyToken::kEnd) throw SoftFail{};
    return r;
  }

 private:
  std::vector<PyToken> tokens_;
  SymbolTable& symbols_;
  size_t pos_ = 0;
  int depth_ = 0;

  const PyToken& peek() const { return tokens_[pos_]; }
  bool at_op(const char* op) const { return peek().kind == PyToken::kOp && peek().text == op; }
  bool accept_op(const char* op) {
    if (!at_op(op)) return false;
    ++pos_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) throw SoftFail{};
  }

  // Comma-separated expressions up to `close` (not consumed): one expression without a comma, else
  // a tuple, list or set of them (a trailing comma allowed).
  Reading sequence(PyToken::Kind end_kind, const char* close, Reading::Kind kind) {
    auto at_close = [&] { return *close ? at_op(close) : peek().kind == end_kind; };
    Reading r;
    r.kind = kind;
    bool comma = false;
    while (!at_close()) {
      r.items.push_back(arith());
      if (!accept_op(",")) break;
      comma = true;
    }
    if (r.items.empty() && kind == Reading::Kind::kTuple) throw SoftFail{};  // "()" is no number
    if (!comma && kind == Reading::Kind::kTuple) return Reading{Reading::Kind::kExpr, r.items[0], "", {}, {}, {}};
    return r;
  }

  ex arith() {
    if (++depth_ > kMaxDepth) throw HardFail{};
    ex v = term();
    for (;;) {
      if (accept_op("+")) v = v + term();
      else if (accept_op("-")) v = v - term();
      else break;
    }
    --depth_;
    return v;
  }
  ex term() {
    ex v = factor();
    for (;;) {
      if (accept_op("*")) v = v * factor();
      else if (accept_op("/")) v = v / factor();
      else return v;
    }
  }
  ex factor() {
    if (++depth_ > kMaxDepth) throw HardFail{};
    ex v = accept_op("-") ? ex(-factor()) : accept_op("+") ? factor() : power();
    --depth_;
    return v;
  }
  // Python's ** binds right to left and tighter than a unary minus on its left.
  ex power() {
    ex base = postfixed();
    if (accept_op("**")) return bounded_power(base, factor());
    return base;
  }
  ex postfixed() {
    ex v = atom();
    while (accept_op("!")) {
      if (at_op("!")) throw SoftFail{};  // x!! is factorial2 in sympy: not read here
      v = bounded_factorial(v);
    }
    return v;
  }
  ex atom() {
    const PyToken t = peek();
    ++pos_;
    if (t.kind == PyToken::kNumber) return python_number(t.text);
    if (t.kind == PyToken::kName) return name(t.text);
    if (t.kind == PyToken::kOp && t.text == "(") {
      Reading r = sequence(PyToken::kEnd, ")", Reading::Kind::kTuple);
      expect_op(")");
      if (r.kind != Reading::Kind::kExpr) throw SoftFail{};  // a tuple inside an expression
      return r.value;
    }
    throw SoftFail{};
  }

  std::vector<ex> call_arguments() {
    Reading r = sequence(PyToken::kEnd, ")", Reading::Kind::kList);
    expect_op(")");
    return r.items;
  }

  ex name(const std::string& n);

 public:
  // A bracketed sequence at the top: [a, b] a list, {a, b} a set, (a, b) a tuple.
  std::optional<Reading> bracketed_top() {
    static const std::map<std::string, std::pair<const char*, Reading::Kind>> kinds = {
        {"[", {"]", Reading::Kind::kList}}, {"{", {"}", Reading::Kind::kSet}}, {"(", {")", Reading::Kind::kTuple}}};
    if (peek().kind != PyToken::kOp || !kinds.count(peek().text)) return std::nullopt;
    const auto [close, kind] = kinds.at(peek().text);
    const size_t saved = pos_;
    ++pos_;
    Reading r = sequence(PyToken::kEnd, close, kind);
    expect_op(close);
    if (peek().kind != PyToken::kEnd || r.kind == Reading::Kind::kExpr) {
      pos_ = saved;
      return std::nullopt;
    }
    return r;
  }
};

// sympy's names: constants and functions; a Python keyword is a syntax error; any other name a
// symbol, or an unknown function when called.
ex PlainParser::name(const std::string& n) {
  static const std::set<std::string> keywords = {"and", "or", "not", "in", "is", "if", "else", "lambda",
      "for", "None", "True", "False", "def", "return", "import", "from", "as", "with", "del", "pass"};
  if (keywords.count(n)) throw SoftFail{};
  if (n == "pi") return GiNaC::Pi;
  if (n == "E") return GiNaC::exp(1);
  if (n == "I") return GiNaC::I;
  if (n == "oo") return symbols_.infinity();
  if (!accept_op("(")) return symbols_.get(n);
  const std::vector<ex> args = call_arguments();
  if (args.empty()) throw SoftFail{};
  if (n == "sqrt" && args.size() == 1) return bounded_power(args[0], numeric(1, 2));
  if ((n == "log" || n == "ln") && args.size() <= 2)
    return args.size() == 1 ? GiNaC::log(args[0]) : GiNaC::log(args[0]) / GiNaC::log(args[1]);
  if (n == "Abs" && args.size() == 1) return abs_of(args[0]);
  if (n == "factorial" && args.size() == 1) return bounded_factorial(args[0]);
  if (n == "binomial" && args.size() == 2) return binomial_of(args[0], args[1], symbols_);
  if ((n == "floor" || n == "ceiling") && args.size() == 1) return rounding_of(args[0], n == "ceiling", symbols_);
  static const std::set<std::string> functions = {"sin", "cos", "tan", "csc", "sec", "cot", "asin", "acos", "atan",
      "acsc", "asec", "acot", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "exp"};
  if (functions.count(n) && args.size() == 1) return apply_function(n, args[0]);
  return opaque_call(n, args, symbols_);
}

template <class F>
std::optional<Reading> guarded(const std::string& text, F read) {
  if (text.size() > kMaxText) return std::nullopt;
  try {
    return read();
  } catch (const SoftFail&) {
  } catch (const HardFail&) {
  } catch (const std::exception&) {  // GiNaC: division by zero, overflow, ...
  }
  return std::nullopt;
}

std::string strip(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (is_space(s[a]) || s[a] == '\f' || s[a] == '\v')) ++a;
  while (b > a && (is_space(s[b - 1]) || s[b - 1] == '\f' || s[b - 1] == '\v')) --b;
  return s.substr(a, b - a);
}

}  // namespace

std::optional<Reading> read_latex(const std::string& text, SymbolTable& symbols) {
  return guarded(text, [&] { return LatexParser(lex_latex(strip(text)), symbols).relation(); });
}

std::optional<Reading> read_plain(const std::string& text, SymbolTable& symbols) {
  return guarded(text, [&]() -> Reading {
    auto tokens = lex_python(strip(text));
    if (!tokens) throw SoftFail{};
    PlainParser parser(*tokens, symbols);
    if (auto r = parser.bracketed_top()) return *r;
    return parser.top();
  });
}

}  // namespace rho::harness
