#include "tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <array>
#include <memory>

#include "common/error.h"

namespace rho::unicode {
namespace {

inline bool trail(unsigned char b) { return (b & 0xC0) == 0x80; }
inline bool valid_cp(int32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

Cls classify_icu(int32_t cp) {
  if (u_isUWhiteSpace(cp)) return Cls::kSpace;
  switch (u_charType(cp)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER: case U_OTHER_LETTER:
      return Cls::kLetter;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
      return Cls::kNumber;
    default:
      return Cls::kOther;
  }
}

// The Basic Multilingual Plane, classified once: ICU's lookups are fast but a table keeps the
// pre-tokenizers' inner loops free of library calls.
struct BmpTable {
  std::array<uint8_t, 0x10000> cls{};
  BmpTable() {
    for (int32_t c = 0; c < 0x10000; ++c) cls[size_t(c)] = uint8_t(classify_icu(c));
  }
};
const BmpTable& bmp() {
  static const BmpTable t;
  return t;
}

}  // namespace

int32_t decode(std::string_view s, size_t i, size_t* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  const size_t left = s.size() - i;
  const unsigned char b0 = p[0];
  *len = 1;
  if (b0 < 0x80) return b0;
  if ((b0 & 0xE0) == 0xC0 && left >= 2 && trail(p[1])) {
    const int32_t c = ((b0 & 0x1F) << 6) | (p[1] & 0x3F);
    if (c >= 0x80) return *len = 2, c;
  } else if ((b0 & 0xF0) == 0xE0 && left >= 3 && trail(p[1]) && trail(p[2])) {
    const int32_t c = ((b0 & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (c >= 0x800 && valid_cp(c)) return *len = 3, c;
  } else if ((b0 & 0xF8) == 0xF0 && left >= 4 && trail(p[1]) && trail(p[2]) && trail(p[3])) {
    const int32_t c = ((b0 & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (c >= 0x10000 && valid_cp(c)) return *len = 4, c;
  }
  return kInvalidCodepoint;
}

void append_utf8(std::string& out, int32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xC0 | (c >> 6));
    out += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += char(0xE0 | (c >> 12));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  } else {
    out += char(0xF0 | (c >> 18));
    out += char(0x80 | ((c >> 12) & 0x3F));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  }
}

Cls classify(int32_t cp) {
  if (cp < 0) return Cls::kOther;
  if (cp < 0x10000) return Cls(bmp().cls[size_t(cp)]);
  return classify_icu(cp);
}

bool is_word(int32_t cp) {
  if (cp < 0) return false;
  if (u_hasBinaryProperty(cp, UCHAR_ALPHABETIC) || u_hasBinaryProperty(cp, UCHAR_JOIN_CONTROL)) return true;
  const int8_t t = u_charType(cp);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION;
}

std::string normalize(std::string_view s, NormForm form) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(s);  // ASCII is invariant under every normalization form
  UErrorCode st = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormForm::kNFC: n = icu::Normalizer2::getNFCInstance(st); break;
    case NormForm::kNFD: n = icu::Normalizer2::getNFDInstance(st); break;
    case NormForm::kNFKC: n = icu::Normalizer2::getNFKCInstance(st); break;
    case NormForm::kNFKD: n = icu::Normalizer2::getNFKDInstance(st); break;
  }
  if (U_FAILURE(st)) fail(std::string("ICU normalizer unavailable: ") + u_errorName(st));
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
  const icu::UnicodeString res = n->normalize(in, st);
  if (U_FAILURE(st)) fail(std::string("ICU normalization failed: ") + u_errorName(st));
  std::string out;
  res.toUTF8String(out);
  return out;
}

}  // namespace rho::unicode
