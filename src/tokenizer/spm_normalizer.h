// sentencepiece's text normalizer (normalizer.cc, 0.1.97): the precompiled character map (a
// darts-clone double array of source strings plus their replacements, e.g. nmt_nfkc), then the
// whitespace flags: remove_extra_whitespaces, add_dummy_prefix, escape_whitespaces ("▁").
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/tables.h"

namespace rho::tok {

struct NormalizerSpec {
  std::string name, charsmap;
  bool add_dummy_prefix = true, remove_extra_ws = true, escape_ws = true;
  bool treat_ws_as_suffix = false;  // from the trainer spec
};

class SpmNormalizer {
 public:
  SpmNormalizer() = default;
  // UserError (no path) when the precompiled_charsmap is malformed.
  explicit SpmNormalizer(NormalizerSpec spec);

  // Appends the normalized text. `user_defined` pieces are copied through unnormalized.
  void normalize(std::string_view in, const ByteTrie& user_defined, std::string& out) const;

 private:
  // The longest rule matching a prefix of `in`: its replacement and how many bytes it consumes.
  std::string_view normalize_prefix(std::string_view in, const ByteTrie& user_defined, size_t* consumed) const;
  size_t longest_rule(std::string_view in, uint32_t* value) const;

  NormalizerSpec spec_;
  std::string_view trie_;        // darts-clone units (little-endian uint32) inside spec_.charsmap
  std::string_view replaced_;    // NUL-separated replacement strings
};

}  // namespace rho::tok
