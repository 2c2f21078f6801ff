// Tokenizers, encoded natively (no tokenizer library at run time): sentencepiece
// `tokenizer.model` files (BPE and unigram: Llama, TinyLlama, Mistral, rho's own) and HF
// `tokenizer.json` files with a BPE model (GPT-2, Llama-3, Qwen2 byte-level; Llama-2-style
// sentencepiece conversions). Training new sentencepiece models uses the sentencepiece library.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rho {

// A tokenizer's files as a model directory carries them, read once (so a directory gets what was
// fingerprinted): the tokenizer file under the name HF looks for (tokenizer.json or
// tokenizer.model), then the tokenizer_config.json beside it if there is one (BOS/EOS settings,
// which the fingerprint does not cover).
struct TokenizerFiles {
  uint64_t fingerprint = 0;                                // fnv1a64 of the tokenizer file
  std::vector<std::pair<std::string, std::string>> files;  // (name in a directory, bytes)
  const std::string& tokenizer_name() const { return files.front().first; }
  // Writes each file into `dir` atomically, and removes from it any tokenizer.json,
  // tokenizer.model or tokenizer_config.json it does not hold: `dir` never mixes two tokenizers.
  void write_to(const std::string& dir) const;
};

// What shards, a tokenizer or a model directory say about the tokenizer behind them: enough to
// refuse a mismatch (model/model_use.h holds the rules).
struct TokenizerId {
  uint64_t fingerprint = 0;  // fnv1a64 of the tokenizer file's bytes; 0: not known
  int64_t vocab_size = 0;    // 0: not known
  std::string source;        // the file that says so, for messages
  // The files themselves, when known (their fingerprint is `fingerprint`): every model directory
  // rho writes carries them. Null: only the fingerprint is known.
  std::shared_ptr<const TokenizerFiles> files;
};

// The tokenizer file of a model directory: tokenizer.json (what HF's fast tokenizer reads), else
// tokenizer.model, else "".
std::string tokenizer_file_in(const std::string& dir);

// The files of tokenizer PATH (a tokenizer file, or a directory holding one). UserError naming
// the path when there is none or it is empty.
std::shared_ptr<const TokenizerFiles> read_tokenizer_files(const std::string& path);

namespace tok {
class Model;
}

class Tokenizer {
 public:
  // PATH: a `*.model` file, a `tokenizer.json`, or a model directory holding `tokenizer.json`
  // (preferred, as in HF) or `tokenizer.model`. A `tokenizer_config.json` beside it sets the
  // BOS/EOS tokens and whether encode(text, true) adds them. UserError naming the file when it
  // is missing, malformed, or uses a format feature rho does not implement.
  static Tokenizer load(const std::string& path);

  // The ids of `text`; with add_special, the BOS/EOS the tokenizer adds around a sequence
  // (tokenizer_config.json's add_bos_token/add_eos_token, else tokenizer.json's post-processor,
  // else BOS for a sentencepiece model). Added/special tokens written in the text of a
  // tokenizer.json are matched as HF does. Const and thread-safe.
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // special tokens are skipped
  std::string id_to_piece(int32_t id) const;
  // The bytes token `id` stands for inside decoded text, with no start-of-text rule applied (a
  // sentencepiece "\u2581the" is " the", a byte piece "<0x41>" the byte 0x41 even when it is half of
  // a UTF-8 character, a GPT-2 byte-level token its bytes, never a lossy UTF-8 repair); nullopt
  // for a token that stands for no text (BOS, EOS, pad and other control or special tokens,
  // sentencepiece's unknown piece). Concatenated over encode(text), it gives `text`, with one
  // space before it when the tokenizer adds a dummy prefix. UserError outside the vocabulary.
  std::optional<std::string> token_bytes(int32_t id) const;
  int32_t vocab_size() const;  // one past the largest id, added tokens included
  int32_t bos_id() const;      // -1 when none
  int32_t eos_id() const;      // -1 when none
  int32_t unk_id() const;      // sentencepiece's unknown piece; -1 when none (or not sentencepiece)
  bool adds_dummy_prefix() const;  // sentencepiece puts a space before the text (add_dummy_prefix)
  // fnv1a64 of the tokenizer file's bytes (tokenizer.model or tokenizer.json): shards and
  // checkpoints record it so a mismatched tokenizer is caught before training on garbage.
  uint64_t fingerprint() const { return fingerprint_; }
  const std::string& path() const { return path_; }
  TokenizerId id() const { return {fingerprint_, vocab_size(), path_, files_}; }
  const TokenizerFiles& files() const { return *files_; }

 private:
  std::shared_ptr<const tok::Model> model_;
  uint64_t fingerprint_ = 0;
  std::string path_;
  std::shared_ptr<const TokenizerFiles> files_;
};

struct TokenizerTrainOptions {
  std::string out_model;            // path of the .model written (a .vocab is written beside it)
  int vocab_size = 4096;
  int64_t max_sentences = 2000000;  // sentencepiece's input_sentence_size
  uint64_t seed = 1;
};

// The training text: calls `emit` once per document (data/documents.h reads them from files).
using TextEmitter = std::function<void(const std::string&)>;
using TextSource = std::function<void(const TextEmitter& emit)>;

// Trains a BPE tokenizer with byte fallback, digits split, whitespace kept as is (so "\n\n" in
// few-shot prompts survives a round trip), ids unk=0 bos=1 eos=2 like Llama.
void train_tokenizer(const TokenizerTrainOptions& opts, const TextSource& documents);

}  // namespace rho
