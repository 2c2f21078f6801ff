#include "tokenizer/spm_normalizer.h"

#include "common/error.h"
#include "tokenizer/unicode.h"

namespace rho::tok {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";

uint32_t le32(std::string_view s, size_t i) {
  return uint32_t(uint8_t(s[i])) | uint32_t(uint8_t(s[i + 1])) << 8 | uint32_t(uint8_t(s[i + 2])) << 16 |
         uint32_t(uint8_t(s[i + 3])) << 24;
}

}  // namespace

SpmNormalizer::SpmNormalizer(NormalizerSpec spec) : spec_(std::move(spec)) {
  if (spec_.charsmap.empty()) return;
  // Layout: uint32 trie size, the trie, then the replacement strings.
  const std::string_view blob = spec_.charsmap;
  if (blob.size() <= 4) fail("precompiled_charsmap is broken (too short)");
  const uint32_t trie_size = le32(blob, 0);
  if (trie_size > blob.size() - 4 || trie_size % 4 != 0 || trie_size == 0)
    fail("precompiled_charsmap is broken (bad trie size)");
  trie_ = blob.substr(4, trie_size);
  replaced_ = blob.substr(4 + trie_size);
}

// darts-clone's commonPrefixSearch over the unit array, bounds-checked, keeping the longest hit.
size_t SpmNormalizer::longest_rule(std::string_view in, uint32_t* value) const {
  const size_t n_units = trie_.size() / 4;
  auto unit = [&](size_t i) { return le32(trie_, i * 4); };
  auto offset = [](uint32_t u) { return size_t((u >> 10) << ((u & (1U << 9)) >> 6)); };
  size_t best = 0;
  size_t pos = offset(unit(0));
  for (size_t i = 0; i < in.size(); ++i) {
    const uint8_t c = uint8_t(in[i]);
    pos ^= c;
    if (pos >= n_units) break;
    const uint32_t u = unit(pos);
    if ((u & ((1U << 31) | 0xFF)) != c) break;  // label mismatch: no longer key
    pos ^= offset(u);
    if ((u >> 8) & 1) {  // has a leaf: the value sits in the unit it points to
      if (pos >= n_units) break;
      best = i + 1;
      *value = unit(pos) & 0x7FFFFFFF;
    }
  }
  return best;
}

std::string_view SpmNormalizer::normalize_prefix(std::string_view in, const ByteTrie& user_defined, size_t* consumed) const {
  int32_t v = -1;
  if (!user_defined.empty()) {
    if (const size_t len = user_defined.longest(in, &v)) return *consumed = len, in.substr(0, len);
  }
  uint32_t value = 0;
  if (!trie_.empty()) {
    if (const size_t len = longest_rule(in, &value); len > 0 && value < replaced_.size()) {
      *consumed = len;
      const std::string_view rest = replaced_.substr(value);
      return rest.substr(0, rest.find('\0'));
    }
  }
  size_t len = 0;
  const int32_t cp = unicode::decode(in, 0, &len);
  *consumed = len;
  // Malformed UTF-8: one byte becomes U+FFFD (a literal U+FFFD is valid and kept).
  if (cp == unicode::kInvalidCodepoint) return "\xEF\xBF\xBD";
  return in.substr(0, len);
}

void SpmNormalizer::normalize(std::string_view in, const ByteTrie& user_defined, std::string& out) const {
  const size_t start = out.size();
  size_t n = 0;
  if (spec_.remove_extra_ws) {  // leading whitespace goes
    while (!in.empty() && normalize_prefix(in, user_defined, &n) == " ") in.remove_prefix(n);
  }
  if (in.empty()) return;
  auto add_ws = [&] { out.append(spec_.escape_ws ? kSpaceSymbol : std::string_view(" ")); };
  if (!spec_.treat_ws_as_suffix && spec_.add_dummy_prefix) add_ws();
  bool prev_space = spec_.remove_extra_ws;
  while (!in.empty()) {
    std::string_view sp = normalize_prefix(in, user_defined, &n);
    if (prev_space)
      while (!sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      for (char c : sp) {
        if (spec_.escape_ws && c == ' ') out.append(kSpaceSymbol);
        else out += c;
      }
      prev_space = sp.back() == ' ';
    }
    in.remove_prefix(n);
    if (!spec_.remove_extra_ws) prev_space = false;
  }
  if (spec_.remove_extra_ws) {  // trailing whitespace goes
    const std::string_view space = spec_.escape_ws ? kSpaceSymbol : std::string_view(" ");
    while (out.size() - start >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space)
      out.resize(out.size() - space.size());
  }
  if (spec_.treat_ws_as_suffix && spec_.add_dummy_prefix) add_ws();
}

}  // namespace rho::tok
