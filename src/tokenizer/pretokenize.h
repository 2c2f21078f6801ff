// The split regexes of byte-level BPE tokenizers, as hand-written scanners over ICU's character
// classes. HF tokenizers runs these patterns with Oniguruma; they are fixed strings in every
// tokenizer.json, so each known pattern maps to an exact scanner instead of a regex engine:
//
//   GPT-2 (also ByteLevel's use_regex):
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama-3 (digits {1,3}) and Qwen2 (digits one by one):
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//     \s*[\r\n]+|\s+(?!\S)|\s+
//
// Any other pattern is refused by the loader, by name.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace rho::tok {

struct SplitPattern {
  enum class Family { kGpt2, kLlama3 } family = Family::kGpt2;
  bool ci_contractions = false;  // (?i:'s|...)
  size_t max_digits = 0;         // \p{N}{1,max_digits}; 0 = \p{N}+ (GPT-2) or unbounded
};

// The scanner for one of the known regex strings, or nullopt.
std::optional<SplitPattern> recognize_split_regex(std::string_view regex);

// The GPT-2 pattern (ByteLevel's use_regex).
SplitPattern gpt2_pattern();

// Appends the pieces of s as byte ranges [begin, end) relative to s: the matches and any text
// between them (HF's "Isolated" behaviour), in order, covering s exactly.
void split_pieces(const SplitPattern& p, std::string_view s, std::vector<std::pair<size_t, size_t>>& out);

}  // namespace rho::tok
