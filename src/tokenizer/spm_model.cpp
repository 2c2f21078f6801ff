// sentencepiece tokenizer.model, natively: the ModelProto is read by hand (protobuf.h) and the
// normalizer, BPE and unigram encoders reproduce sentencepiece 0.1.97 (normalizer.cc,
// bpe_model.cc, unigram_model.cc EncodeOptimized, sentencepiece_processor.cc) id for id.
#include <algorithm>
#include <cfloat>
#include <cstdio>
#include <queue>
#include <unordered_map>

#include "common/error.h"
#include "tokenizer/model.h"
#include "tokenizer/protobuf.h"
#include "tokenizer/spm_normalizer.h"
#include "tokenizer/tables.h"
#include "tokenizer/unicode.h"
#include "tokenizer/word_cache.h"

namespace rho::tok {
namespace {

enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct Piece {
  std::string text;
  float score = 0;
  int type = kNormal;
};

// sentencepiece's OneCharLen: the length its lead byte announces (normalized text is valid UTF-8).
inline size_t one_char_len(std::string_view s, size_t i) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return std::min<size_t>(kLen[static_cast<unsigned char>(s[i]) >> 4], s.size() - i);
}

class SpmModel : public Model {
 public:
  SpmModel(const std::string& path, std::string_view proto) : path_(path) {
    try {
      parse(proto);
    } catch (const UserError& e) {
      fail_file(path, std::string("not a sentencepiece model (") + e.what() + ")");
    }
    init(path);
  }

  void encode(std::string_view text, std::vector<int32_t>& out) const override {
    thread_local std::string norm;
    thread_local std::vector<int32_t> pieces;  // (byte length, id) pairs from the model
    norm.clear();
    pieces.clear();
    normalizer_.normalize(text, user_defined_, norm);
    if (bpe_) {
      encode_bpe_words(norm, pieces);
    } else {
      encode_unigram(norm, pieces);
    }
    // sentencepiece_processor.cc: unknown pieces become their bytes under byte fallback;
    // otherwise consecutive unknown pieces fuse into one.
    bool prev_unk = false;
    size_t pos = 0;
    for (size_t k = 0; k < pieces.size(); k += 2) {
      const size_t len = size_t(pieces[k]);
      const int32_t id = pieces[k + 1];
      const bool unk = id == unk_id_;
      if (unk && byte_fallback_) {
        for (size_t b = 0; b < len; ++b) out.push_back(byte_ids_[static_cast<unsigned char>(norm[pos + b])]);
      } else {
        if (!(unk && prev_unk)) out.push_back(id);
        prev_unk = unk;
      }
      pos += len;
    }
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out, bytes;
    bool at_start = true;
    auto flush_bytes = [&] {
      for (size_t i = 0; i < bytes.size();) {
        size_t len = 0;
        if (unicode::decode(bytes, i, &len) == unicode::kInvalidCodepoint) out += "\xEF\xBF\xBD";
        else out.append(bytes, i, len);
        i += len;
      }
      if (!bytes.empty()) at_start = false;
      bytes.clear();
    };
    for (int32_t id : ids) {
      const Piece& p = pieces_[size_t(id)];
      if (p.type == kControl) continue;
      if (p.type == kByte) {
        bytes += byte_of_piece(p.text);
        continue;
      }
      flush_bytes();
      std::string_view text = p.type == kUnknown ? std::string_view(unk_surface_) : std::string_view(p.text);
      if (at_start && !treat_ws_as_suffix_ && (add_dummy_prefix_ || remove_extra_ws_) && text.substr(0, 3) == kSpaceSymbol)
        text.remove_prefix(3);
      for (size_t i = 0; i < text.size();) {
        if (text.substr(i, 3) == kSpaceSymbol) out += ' ', i += 3;
        else out += text[i++];
      }
      if (!p.text.empty()) at_start = false;
    }
    flush_bytes();
    return out;
  }

  std::string id_to_piece(int32_t id) const override { return pieces_[size_t(id)].text; }
  std::optional<std::string> token_bytes(int32_t id) const override {
    const Piece& p = pieces_[size_t(id)];
    if (p.type == kControl || p.type == kUnknown) return std::nullopt;  // no text (unknown: lost)
    if (p.type == kByte) return std::string(1, byte_of_piece(p.text));
    std::string out;
    for (size_t i = 0; i < p.text.size();) {
      if (p.text.compare(i, 3, kSpaceSymbol) == 0) out += ' ', i += 3;
      else out += p.text[i++];
    }
    return out;
  }
  int32_t token_to_id(std::string_view t) const override {
    if (auto it = reserved_.find(t); it != reserved_.end()) return it->second;
    if (auto it = normal_.find(t); it != normal_.end()) return it->second;
    return -1;
  }
  int32_t vocab_size() const override { return int32_t(pieces_.size()); }

 private:
  static constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";
  static char byte_of_piece(const std::string& text) { return char(std::stoi(text.substr(3, 2), nullptr, 16)); }  // <0xHH>

  void parse(std::string_view proto);
  void init(const std::string& path);
  int32_t piece_to_id(std::string_view t) const {  // sentencepiece's PieceToId: unknown -> unk
    const int32_t id = token_to_id(t);
    return id < 0 ? unk_id_ : id;
  }
  void encode_bpe_words(std::string_view norm, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void encode_unigram(std::string_view norm, std::vector<int32_t>& out) const;
  using RevMerge = std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>;
  // Emits (length, id) of a final BPE symbol; an unused piece is split back into the two
  // pieces it was merged from (bpe_model.cc's resegment).
  void resegment(std::string_view w, const RevMerge& rev_merge, std::vector<int32_t>& out) const {
    const int32_t id = piece_to_id(w);
    if (!rev_merge.empty() && pieces_[size_t(id)].type == kUnused) {
      if (const auto it = rev_merge.find(w); it != rev_merge.end()) {
        resegment(it->second.first, rev_merge, out);
        resegment(it->second.second, rev_merge, out);
        return;
      }
    }
    out.push_back(int32_t(w.size()));
    out.push_back(id);
  }

  std::string path_;
  std::vector<Piece> pieces_;
  bool bpe_ = false, byte_fallback_ = false, treat_ws_as_suffix_ = false;
  bool add_dummy_prefix_ = true, remove_extra_ws_ = true, escape_ws_ = true;
  std::string charsmap_, bos_piece_ = "<s>", eos_piece_ = "</s>", unk_surface_ = " \xE2\x81\x87 ";
  std::unordered_map<std::string_view, int32_t> normal_, reserved_;  // sentencepiece's pieces_ / reserved_id_map_
  ByteTrie user_defined_, unigram_trie_;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256] = {};
  float min_score_ = FLT_MAX, max_score_ = FLT_MIN;
  bool word_split_ = false;  // no piece crosses a word start, so BPE may run word by word
  SpmNormalizer normalizer_;
  WordCache cache_;
};

void SpmModel::parse(std::string_view proto) {
  ProtoReader r(proto);
  int model_type = 1;  // UNIGRAM, sentencepiece's default
  NormalizerSpec ns;
  while (!r.done()) {
    uint32_t f, w;
    r.next_field(&f, &w);
    if (f == 1) {  // SentencePiece
      r.expect(w, 2, "pieces");
      ProtoReader p(r.bytes());
      Piece piece;
      while (!p.done()) {
        uint32_t pf, pw;
        p.next_field(&pf, &pw);
        if (pf == 1) p.expect(pw, 2, "piece"), piece.text = std::string(p.bytes());
        else if (pf == 2) p.expect(pw, 5, "score"), piece.score = p.fixed32_float();
        else if (pf == 3) p.expect(pw, 0, "type"), piece.type = int(p.varint());
        else p.skip(pw);
      }
      pieces_.push_back(std::move(piece));
    } else if (f == 2) {  // TrainerSpec
      r.expect(w, 2, "trainer_spec");
      ProtoReader t(r.bytes());
      while (!t.done()) {
        uint32_t tf, tw;
        t.next_field(&tf, &tw);
        if (tf == 3) t.expect(tw, 0, "model_type"), model_type = int(t.varint());
        else if (tf == 24) t.expect(tw, 0, "treat_whitespace_as_suffix"), treat_ws_as_suffix_ = t.varint() != 0;
        else if (tf == 35) t.expect(tw, 0, "byte_fallback"), byte_fallback_ = t.varint() != 0;
        else if (tf == 44) t.expect(tw, 2, "unk_surface"), unk_surface_ = std::string(t.bytes());
        else if (tf == 46) t.expect(tw, 2, "bos_piece"), bos_piece_ = std::string(t.bytes());
        else if (tf == 47) t.expect(tw, 2, "eos_piece"), eos_piece_ = std::string(t.bytes());
        else t.skip(tw);
      }
    } else if (f == 3) {  // NormalizerSpec
      r.expect(w, 2, "normalizer_spec");
      ProtoReader n(r.bytes());
      while (!n.done()) {
        uint32_t nf, nw;
        n.next_field(&nf, &nw);
        if (nf == 1) n.expect(nw, 2, "name"), ns.name = std::string(n.bytes());
        else if (nf == 2) n.expect(nw, 2, "precompiled_charsmap"), ns.charsmap = std::string(n.bytes());
        else if (nf == 3) n.expect(nw, 0, "add_dummy_prefix"), ns.add_dummy_prefix = n.varint() != 0;
        else if (nf == 4) n.expect(nw, 0, "remove_extra_whitespaces"), ns.remove_extra_ws = n.varint() != 0;
        else if (nf == 5) n.expect(nw, 0, "escape_whitespaces"), ns.escape_ws = n.varint() != 0;
        else n.skip(nw);
      }
    } else {
      r.skip(w);  // self-test data, the denormalizer (decode-only, not applied), newer fields
    }
  }
  if (model_type != 1 && model_type != 2)
    fail(std::string("model type ") + (model_type == 3 ? "WORD" : model_type == 4 ? "CHAR" : std::to_string(model_type)) +
         " is not supported, only UNIGRAM and BPE");
  bpe_ = model_type == 2;
  ns.treat_ws_as_suffix = treat_ws_as_suffix_;
  add_dummy_prefix_ = ns.add_dummy_prefix, remove_extra_ws_ = ns.remove_extra_ws, escape_ws_ = ns.escape_ws;
  normalizer_ = SpmNormalizer(std::move(ns));  // throws on a malformed precompiled_charsmap
}

// The checks and tables of sentencepiece's ModelInterface::InitializePieces.
void SpmModel::init(const std::string& path) {
  if (pieces_.empty()) fail_file(path, "not a sentencepiece model (no pieces)");
  if (pieces_.size() > size_t(1) << 24) fail_file(path, "sentencepiece model with more than 2^24 pieces");
  bool bytes_found[256] = {};
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const Piece& p = pieces_[i];
    if (p.type < kNormal || p.type > kByte) fail_file(path, "piece " + std::to_string(i) + " has an unknown type");
    if (p.text.empty()) fail_file(path, "piece " + std::to_string(i) + " is empty");
    const bool normal = p.type == kNormal || p.type == kUserDefined || p.type == kUnused;
    if (!(normal ? normal_ : reserved_).emplace(p.text, int32_t(i)).second)
      fail_file(path, "piece '" + p.text + "' is defined twice");
    if (p.type == kUserDefined) user_defined_.insert(p.text, int32_t(i));
    if (normal) unigram_trie_.insert(p.text, int32_t(i));
    if (p.type == kUnknown) {
      if (unk_id_ >= 0) fail_file(path, "more than one unknown piece");
      unk_id_ = int32_t(i);
    }
    if (p.type == kByte) {
      unsigned v = 0;
      char tail = 0;
      if (!byte_fallback_) fail_file(path, "byte piece " + p.text + " in a model without byte_fallback");
      if (p.text.size() != 6 || std::sscanf(p.text.c_str(), "<0x%2X%c", &v, &tail) != 2 || tail != '>')
        fail_file(path, "byte piece '" + p.text + "' is not <0x00>...<0xFF>");
      bytes_found[v] = true;
      byte_ids_[v] = int32_t(i);
    }
    if (p.type == kNormal) min_score_ = std::min(min_score_, p.score), max_score_ = std::max(max_score_, p.score);
  }
  if (unk_id_ < 0) fail_file(path, "sentencepiece model without an unknown piece");
  if (byte_fallback_)
    for (int b = 0; b < 256; ++b)
      if (!bytes_found[b]) fail_file(path, "byte_fallback model lacks byte piece " + std::to_string(b));
  auto control = [&](const std::string& name) {
    const auto it = reserved_.find(name);
    return it != reserved_.end() && pieces_[size_t(it->second)].type == kControl ? it->second : -1;
  };
  bos = control(bos_piece_);
  eos = control(eos_piece_);
  if (bos >= 0) prefix = {bos};  // Llama's convention: BOS before the text, no EOS
  unk = unk_id_;
  dummy_prefix = add_dummy_prefix_;
  // BPE may run word by word (and cache words) when no mergeable piece holds a space symbol
  // after another character: then no merge can cross the start of a word (see encode_bpe_words).
  const std::string space = escape_ws_ ? std::string(kSpaceSymbol) : " ";
  word_split_ = bpe_ && !treat_ws_as_suffix_;
  for (const auto& [text, id] : normal_) {
    for (size_t at = text.find(space, 1); word_split_ && at != std::string::npos; at = text.find(space, at + 1))
      if (at < space.size() || text.compare(at - space.size(), space.size(), space) != 0) word_split_ = false;
  }
}

// Words start at a space symbol that follows something else; each is merged alone. Exact when
// word_split_: a merge across such a start would need a piece holding "x▁" (x not ▁).
void SpmModel::encode_bpe_words(std::string_view norm, std::vector<int32_t>& out) const {
  if (!word_split_) return encode_bpe(norm, out);
  const std::string_view space = escape_ws_ ? kSpaceSymbol : std::string_view(" ");
  size_t begin = 0;
  while (begin < norm.size()) {
    size_t end = begin;
    while (end < norm.size() && norm.compare(end, space.size(), space) == 0) end += space.size();
    end = norm.find(space, end);
    if (end == std::string_view::npos) end = norm.size();
    const std::string_view word = norm.substr(begin, end - begin);
    begin = end;
    const bool cacheable = word.size() < WordCache::kMaxWordBytes;
    const uint64_t h = cacheable ? hash_bytes(word) : 0;
    if (cacheable && cache_.get(word, h, out)) continue;
    const size_t first = out.size();
    encode_bpe(word, out);
    if (cacheable) cache_.put(word, h, out.data() + first, out.size() - first);
  }
}

void SpmModel::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t prev, next;
    size_t begin, len;  // len 0: merged away
    bool freeze;
  };
  struct Pair {
    int32_t left, right;
    float score;
    size_t size;
  };
  struct Cmp {  // the highest score first, then the leftmost (bpe_model.cc SymbolPairComparator)
    bool operator()(const Pair& a, const Pair& b) const { return a.score < b.score || (a.score == b.score && a.left > b.left); }
  };
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Pair> heap;
  thread_local RevMerge rev_merge;
  sym.clear();
  heap.clear();
  if (!rev_merge.empty()) rev_merge.clear();
  for (size_t i = 0; i < text.size();) {
    int32_t v = -1;
    size_t len = user_defined_.empty() ? 0 : user_defined_.longest(text.substr(i), &v);
    const bool freeze = len > 0;
    if (!freeze) len = one_char_len(text, i);
    const int32_t k = int32_t(sym.size());
    sym.push_back(Symbol{k - 1, k + 1, i, len, freeze});
    i += len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  auto piece = [&](int32_t i) { return text.substr(sym[size_t(i)].begin, sym[size_t(i)].len); };
  auto maybe_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0 || sym[size_t(l)].freeze || sym[size_t(r)].freeze) return;
    const std::string_view joined = text.substr(sym[size_t(l)].begin, sym[size_t(l)].len + sym[size_t(r)].len);
    const auto it = normal_.find(joined);
    if (it == normal_.end()) return;
    heap.push_back(Pair{l, r, pieces_[size_t(it->second)].score, joined.size()});
    std::push_heap(heap.begin(), heap.end(), Cmp());
    if (pieces_[size_t(it->second)].type == kUnused) rev_merge[joined] = {piece(l), piece(r)};
  };
  for (size_t i = 1; i < sym.size(); ++i) maybe_add(int32_t(i - 1), int32_t(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Cmp());
    const Pair top = heap.back();
    heap.pop_back();
    Symbol& l = sym[size_t(top.left)];
    Symbol& r = sym[size_t(top.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != top.size) continue;  // stale
    l.len += r.len;
    l.next = r.next;
    if (r.next >= 0) sym[size_t(r.next)].prev = top.left;
    r.len = 0;
    maybe_add(l.prev, top.left);
    maybe_add(top.left, l.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) resegment(piece(i), rev_merge, out);
}

// unigram_model.cc EncodeOptimized: Viterbi over the pieces, the best path ending at each
// character kept as it is found; a character no piece covers is an unknown of score min - 10.
void SpmModel::encode_unigram(std::string_view norm, std::vector<int32_t>& out) const {
  struct Node {
    int32_t id = -1;
    float score = 0;
    int64_t starts_at = -1;
  };
  thread_local std::vector<Node> best;
  const size_t size = norm.size();
  if (size == 0) return;
  best.assign(size + 1, Node{});
  const float unk_score = min_score_ - 10.0f;
  for (size_t start = 0; start < size;) {
    const float till_here = best[start].score;
    bool has_single_node = false;
    const size_t mblen = one_char_len(norm, start);
    unigram_trie_.prefixes(norm.substr(start), [&](size_t length, int32_t id) {
      if (pieces_[size_t(id)].type == kUnused) return;
      Node& target = best[start + length];
      // A user-defined symbol always wins; the double arithmetic mirrors sentencepiece's.
      const double score = pieces_[size_t(id)].type == kUserDefined ? double(float(length) * max_score_) - 0.1
                                                                      : double(pieces_[size_t(id)].score);
      const double candidate = score + till_here;  // compared in double, stored as float
      if (target.starts_at == -1 || candidate > target.score) target = Node{id, float(candidate), int64_t(start)};
      if (length == mblen) has_single_node = true;
    });
    if (!has_single_node) {
      Node& target = best[start + mblen];
      const float candidate = unk_score + till_here;
      if (target.starts_at == -1 || candidate > target.score) target = Node{unk_id_, candidate, int64_t(start)};
    }
    start += mblen;
  }
  const size_t first = out.size();
  for (size_t end = size; end > 0;) {
    const Node& n = best[end];
    if (n.starts_at < 0) break;  // unreachable for any model sentencepiece accepts
    out.push_back(n.id);
    out.push_back(int32_t(end - size_t(n.starts_at)));
    end = size_t(n.starts_at);
  }
  std::reverse(out.begin() + first, out.end());  // (len, id) pairs, reversed twice
}

}  // namespace

std::unique_ptr<Model> load_spm(const std::string& path, const std::string& bytes) {
  return std::make_unique<SpmModel>(path, bytes);
}

}  // namespace rho::tok
