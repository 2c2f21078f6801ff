// sentencepiece tokenizers: train new ones (BPE with byte fallback) and load any existing
// `tokenizer.model` (Llama, TinyLlama, Mistral).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct rho_spm;  // tokenizer/spm_c_api.h

namespace rho {

// What shards, a tokenizer or a model directory say about the tokenizer behind them: enough to
// refuse a mismatch (model/compat.h holds the rules).
struct TokenizerId {
  uint64_t fingerprint = 0;  // fnv1a64 of the tokenizer file's bytes; 0: not known
  int64_t vocab_size = 0;    // 0: not known
  std::string source;        // the file that says so, for messages
};

// The tokenizer file of a model directory: tokenizer.json (what HF's fast tokenizer reads), else
// tokenizer.model, else "".
std::string tokenizer_file_in(const std::string& dir);

class Tokenizer {
 public:
  // UserError naming the file when it is missing or not a sentencepiece model.
  static Tokenizer load(const std::string& model_path);

  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string id_to_piece(int32_t id) const;
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  // fnv1a64 of the serialized model proto: shards and checkpoints record it so a mismatched
  // tokenizer is caught before training on garbage.
  uint64_t fingerprint() const { return fingerprint_; }
  const std::string& path() const { return path_; }
  TokenizerId id() const { return {fingerprint_, vocab_size(), path_}; }

 private:
  std::shared_ptr<rho_spm> sp_;
  uint64_t fingerprint_ = 0;
  std::string path_;
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
