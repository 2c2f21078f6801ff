// HF tokenizers' BPE model (models/bpe in huggingface/tokenizers): a word's characters become
// vocabulary ids (byte fallback or a fused unknown id for missing ones), then adjacent pairs
// merge lowest merge rank first, leftmost first on ties.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tables.h"
#include "tokenizer/word_cache.h"

namespace rho::tok {

struct BpeOptions {
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;  // a word that is itself in the vocabulary is one token
  int32_t unk_id = -1;         // -1: characters missing from the vocabulary are dropped
  std::string continuing_subword_prefix, end_of_word_suffix;
};

class BpeModel {
 public:
  // `vocab` maps token -> id; `merges` are the pairs in rank order. A merge naming a token
  // missing from the vocabulary throws UserError (message without a path: the caller adds it).
  BpeModel(std::vector<std::pair<std::string, int32_t>> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions opts);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  // Every (token, id) of the vocabulary.
  const std::vector<std::pair<std::string, int32_t>>& vocab() const { return tokens_; }

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  std::vector<std::pair<std::string, int32_t>> tokens_;  // owns the strings vocab_ views
  std::unordered_map<std::string_view, int32_t> vocab_;
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  FlatMap64<Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
  int32_t byte_ids_[256];    // <0xXX> tokens, -1 when absent
  BpeOptions opts_;
  WordCache cache_;
};

}  // namespace rho::tok
