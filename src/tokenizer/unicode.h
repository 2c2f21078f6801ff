// UTF-8 decoding and the Unicode character classes the tokenizers' pre-tokenization regexes use
// (\p{L}, \p{N}, \s, \w), from ICU. Invalid UTF-8 never fails: a byte that does not start a
// valid sequence decodes alone as kInvalidCodepoint, so every input has a defined tokenization.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rho::unicode {

constexpr int32_t kInvalidCodepoint = -1;

// Decodes the character starting at s[i] (i < s.size()); *len gets its byte length (1 for an
// invalid byte). Strict UTF-8: overlong forms, surrogates and values above U+10FFFF are invalid,
// as in sentencepiece's DecodeUTF8.
int32_t decode(std::string_view s, size_t i, size_t* len);

// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string& out, int32_t cp);

enum class Cls : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

// General category L* -> kLetter, N* -> kNumber, White_Space -> kSpace (what Oniguruma's \s is
// in Unicode mode), everything else (and invalid bytes) kOther. A letter that is also White_Space
// does not exist, so the classes are disjoint.
Cls classify(int32_t cp);

// Rust regex's \w: Alphabetic, M*, Nd, Pc, Join_Control (HF's single_word added-token check).
bool is_word(int32_t cp);

// Unicode normalization forms (HF normalizers NFC/NFD/NFKC/NFKD). Invalid UTF-8 becomes U+FFFD.
enum class NormForm { kNFC, kNFD, kNFKC, kNFKD };
std::string normalize(std::string_view s, NormForm form);

}  // namespace rho::unicode
