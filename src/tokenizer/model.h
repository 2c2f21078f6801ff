// What Tokenizer (tokenizer.h) holds: one encoder per file format, all native C++.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rho::tok {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `text` (no BOS/EOS). Must be thread-safe.
  virtual void encode(std::string_view text, std::vector<int32_t>& out) const = 0;
  // Ids already range-checked by the caller.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual std::string id_to_piece(int32_t id) const = 0;
  // Tokenizer::token_bytes; the id is range-checked by the caller.
  virtual std::optional<std::string> token_bytes(int32_t id) const = 0;
  virtual int32_t token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual int32_t vocab_size() const = 0;

  // Filled by the loaders; tokenizer_config.json may override them (tokenizer.cpp).
  int32_t bos = -1, eos = -1;
  std::vector<int32_t> prefix, suffix;  // what encode(text, add_special=true) puts around the ids
  int32_t unk = -1;           // sentencepiece's unknown piece (-1: none, or not sentencepiece)
  bool dummy_prefix = false;  // sentencepiece's add_dummy_prefix: a space is put before the text
};

// tokenizer.json (HF tokenizers, BPE model). `bytes` is the file's content; errors name `path`.
std::unique_ptr<Model> load_hf_json(const std::string& path, const std::string& bytes);
// sentencepiece ModelProto (tokenizer.model), BPE or unigram.
std::unique_ptr<Model> load_spm(const std::string& path, const std::string& bytes);

}  // namespace rho::tok
