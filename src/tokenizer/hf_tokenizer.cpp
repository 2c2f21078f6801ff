// HF tokenizer.json with a BPE model, natively: the added-token split, normalizers,
// pre-tokenizers, the BPE model and the decoders that byte-level (GPT-2, Llama-3, Qwen2) and
// sentencepiece-style (Llama-2, Mistral, TinyLlama) fast tokenizers use. Semantics follow
// huggingface/tokenizers (tokenizer/added_vocabulary.rs, normalizers/, pre_tokenizers/,
// models/bpe/); anything else is refused by name when the file is loaded.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/hf_parts.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace rho::tok {
namespace {

using nlohmann::json;
using Spans = std::vector<std::pair<size_t, size_t>>;

constexpr int32_t kMaxId = 1 << 24;  // far above any real vocabulary; bounds the id tables

class HfTokenizer : public Model {
 public:
  HfTokenizer(const std::string& path, const json& j) : path_(path) {
    const json& m = j.at("model");
    const std::string type = m.value("type", "BPE");
    if (type != "BPE") fail_file(path, "model type " + type + " is not supported (only BPE)");
    std::vector<std::pair<std::string, int32_t>> vocab;
    for (const auto& [tok, id] : m.at("vocab").items()) vocab.emplace_back(tok, check_id(id.get<int64_t>()));
    std::vector<std::pair<std::string, std::string>> merges;
    for (const json& mg : m.value("merges", json::array())) {
      if (mg.is_array() && mg.size() == 2) {
        merges.emplace_back(mg[0].get<std::string>(), mg[1].get<std::string>());
      } else {
        const std::string s = mg.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          fail_file(path, "merge '" + s + "' is not two tokens separated by one space");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      }
    }
    BpeOptions o;
    o.byte_fallback = m.value("byte_fallback", false);
    o.fuse_unk = m.value("fuse_unk", false);
    o.ignore_merges = m.value("ignore_merges", false);
    o.continuing_subword_prefix = string_or_empty(m, "continuing_subword_prefix");
    o.end_of_word_suffix = string_or_empty(m, "end_of_word_suffix");
    if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0)
      fail_file(path, "BPE dropout is not supported (encoding would be random)");
    const std::string unk = string_or_empty(m, "unk_token");
    for (const auto& [tok, id] : vocab) max_id_ = std::max(max_id_, id);
    if (!unk.empty()) {
      for (const auto& [tok, id] : vocab)
        if (tok == unk) o.unk_id = id;
      if (o.unk_id < 0) fail_file(path, "unk_token '" + unk + "' is not in the vocabulary");
    }
    try {
      bpe_ = std::make_unique<BpeModel>(std::move(vocab), merges, o);
    } catch (const UserError& e) {
      fail_file(path, e.what());
    }
    for (const json& t : j.value("added_tokens", json::array())) {
      AddedToken a;
      a.id = check_id(t.at("id").get<int64_t>());
      a.content = t.at("content").get<std::string>();
      a.single_word = t.value("single_word", false);
      a.lstrip = t.value("lstrip", false);
      a.rstrip = t.value("rstrip", false);
      a.normalized = t.value("normalized", !t.value("special", false));
      a.special = t.value("special", false);
      max_id_ = std::max(max_id_, a.id);
      if (!a.content.empty()) added_.push_back(std::move(a));
    }
    normalizers_ = parse_normalizers(path, j.value("normalizer", json()));
    pre_ = parse_pre_tokenizers(path, j.value("pre_tokenizer", json()));
    decoders_ = parse_decoders(path, j.value("decoder", json()));
    parse_post_processor(path, j.value("post_processor", json()), *this);
    // Added tokens are matched in the raw text, or after normalization when `normalized`
    // (HF matches those against their own normalized form).
    for (const AddedToken& a : added_) {
      if (a.normalized) {
        const std::string norm = normalize(normalizers_, a.content);
        if (!norm.empty()) norm_matcher_.add(norm, a);
      } else {
        raw_matcher_.add(a.content, a);
      }
      added_by_id_[a.id] = &a;
    }
    id_to_token_.resize(size_t(max_id_) + 1);
    for (const auto& [tok, id] : bpe_->vocab()) id_to_token_[size_t(id)] = tok;
    for (const AddedToken& a : added_) id_to_token_[size_t(a.id)] = a.content;
  }

  void encode(std::string_view text, std::vector<int32_t>& out) const override {
    thread_local Matches outer, inner;
    thread_local Pieces a, b;
    outer.clear();
    raw_matcher_.find(text, outer);
    for (const auto& seg : outer) {
      if (seg.id >= 0) {
        out.push_back(seg.id);
        continue;
      }
      const std::string norm = normalize(normalizers_, text.substr(seg.begin, seg.end - seg.begin));
      inner.clear();
      norm_matcher_.find(norm, inner);
      for (const auto& sub : inner) {
        if (sub.id >= 0) {
          out.push_back(sub.id);
          continue;
        }
        a.clear();
        a.add(std::string_view(norm).substr(sub.begin, sub.end - sub.begin));
        pre_tokenize(pre_, a, b, seg.begin == 0 && sub.begin == 0);
        for (size_t i = 0; i < a.size(); ++i) bpe_->tokenize(a.at(i), out);
      }
    }
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<std::string> tokens;
    for (int32_t id : ids) {
      const auto it = added_by_id_.find(id);
      if (it != added_by_id_.end() && it->second->special) continue;  // HF's skip_special_tokens
      tokens.push_back(id_to_token_[size_t(id)]);
    }
    return run_decoders(decoders_, std::move(tokens));
  }

  std::string id_to_piece(int32_t id) const override { return id_to_token_[size_t(id)]; }
  std::optional<std::string> token_bytes(int32_t id) const override {
    if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) {
      if (it->second->special) return std::nullopt;
      return it->second->content;  // matched in the text as it is, so it stands for itself
    }
    const std::string& token = id_to_token_[size_t(id)];
    if (token.empty()) return std::nullopt;  // an id the vocabulary skips
    return raw_token_bytes(decoders_, token);
  }
  int32_t token_to_id(std::string_view token) const override {
    for (const AddedToken& a : added_)
      if (a.content == token) return a.id;
    return bpe_->token_to_id(token);
  }
  int32_t vocab_size() const override { return max_id_ + 1; }

 private:
  int32_t check_id(int64_t id) const {
    if (id < 0 || id >= kMaxId) fail_file(path_, "token id " + std::to_string(id) + " is out of range");
    return int32_t(id);
  }
  static std::string string_or_empty(const json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  }

  std::string path_;
  std::unique_ptr<BpeModel> bpe_;
  int32_t max_id_ = -1;
  std::vector<AddedToken> added_;
  std::unordered_map<int32_t, const AddedToken*> added_by_id_;
  AddedTokenMatcher raw_matcher_, norm_matcher_;
  std::vector<NormalizerStep> normalizers_;
  std::vector<PreTokenizerStep> pre_;
  std::vector<DecoderStep> decoders_;
  std::vector<std::string> id_to_token_;
};

}  // namespace

std::unique_ptr<Model> load_hf_json(const std::string& path, const std::string& bytes) {
  json j;
  try {
    j = json::parse(bytes);
  } catch (const json::exception& e) {
    fail_file(path, std::string("not a valid tokenizer.json: ") + e.what());
  }
  if (!j.is_object() || !j.contains("model")) fail_file(path, "not a tokenizer.json: no \"model\" object");
  try {
    return std::make_unique<HfTokenizer>(path, j);
  } catch (const json::exception& e) {
    fail_file(path, std::string("malformed tokenizer.json: ") + e.what());
  }
}

}  // namespace rho::tok
