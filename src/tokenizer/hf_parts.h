// The pieces of a tokenizer.json pipeline around the BPE model: added tokens, normalizers,
// pre-tokenizers, post-processor and decoders. Each parse_* refuses an unsupported type by name.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/model.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tables.h"

namespace rho::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// A stretch of text: an added token's id, or -1 for text to encode.
struct Match {
  int32_t id;
  size_t begin, end;
};
using Matches = std::vector<Match>;

// HF's AddedVocabulary::find_matches: leftmost-longest matches of the added tokens, with their
// single_word / lstrip / rstrip rules; the result covers the text (an empty text: one empty
// stretch).
class AddedTokenMatcher {
 public:
  void add(const std::string& pattern, const AddedToken& t);
  void find(std::string_view text, Matches& out) const;

 private:
  ByteTrie trie_;
  std::vector<AddedToken> tokens_;  // trie values index this
  bool first_byte_[256] = {};
};

// Text pieces in one reused buffer, so the pre-tokenizers allocate nothing in steady state.
class Pieces {
 public:
  void clear() { buf_.clear(), spans_.clear(); }
  void add(std::string_view s) {
    spans_.emplace_back(buf_.size(), s.size());
    buf_.append(s);
  }
  size_t size() const { return spans_.size(); }
  std::string_view at(size_t i) const { return std::string_view(buf_).substr(spans_[i].first, spans_[i].second); }

 private:
  std::string buf_;
  std::vector<std::pair<size_t, size_t>> spans_;  // offset, length
};

struct NormalizerStep {
  enum class Kind { kPrepend, kReplace, kNFC, kNFD, kNFKC, kNFKD } kind;
  std::string a, b;  // Prepend: a; Replace: a -> b
};
std::vector<NormalizerStep> parse_normalizers(const std::string& path, const nlohmann::json& j);
std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view s);

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace } kind;
  SplitPattern pattern;                     // Split, ByteLevel with use_regex
  bool add_prefix_space = false;            // ByteLevel
  bool use_regex = false;                   // ByteLevel
  std::string replacement;                  // Metaspace
  enum class Prepend { kAlways, kFirst, kNever } prepend = Prepend::kAlways;  // Metaspace
  bool split = true;                        // Metaspace
};
std::vector<PreTokenizerStep> parse_pre_tokenizers(const std::string& path, const nlohmann::json& j);
// Runs the steps over `pieces` (the result is left in `pieces`; `scratch` is reused).
// `at_start`: the first piece starts the input (Metaspace's prepend_scheme "first").
void pre_tokenize(const std::vector<PreTokenizerStep>& steps, Pieces& pieces, Pieces& scratch, bool at_start);

struct DecoderStep {
  enum class Kind { kByteLevel, kMetaspace, kReplace, kByteFallback, kFuse, kStrip } kind;
  std::string a, b;       // Replace: a -> b; Metaspace: a = replacement; Strip: a = content
  size_t start = 0, stop = 0;  // Strip
  bool prepend = true;    // Metaspace
};
std::vector<DecoderStep> parse_decoders(const std::string& path, const nlohmann::json& j);
std::string run_decoders(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens);
// The bytes one model token stands for inside decoded text (Tokenizer::token_bytes): ByteLevel,
// ByteFallback and Replace as run_decoders runs them but with no lossy UTF-8 repair, Metaspace's
// replacement always a space (not the first-token rule); Strip and Fuse are ignored (they trim
// or join the whole text, not a token's bytes).
std::string raw_token_bytes(const std::vector<DecoderStep>& steps, std::string token);

// TemplateProcessing (also inside a Sequence), Roberta/Bert processing: fills model.prefix,
// model.suffix and, from their special tokens, model.bos / model.eos. ByteLevel is a no-op for ids.
void parse_post_processor(const std::string& path, const nlohmann::json& j, Model& model);

}  // namespace rho::tok
