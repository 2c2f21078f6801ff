#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>

#include "common/error.h"
#include "tokenizer/unicode.h"

namespace rho::tok {
namespace {

inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Symbol {
  int32_t id;
  int32_t prev, next;
  uint32_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
};

struct QueuedMerge {
  uint32_t rank;
  uint32_t pos;
  int32_t new_id;
};
// std::*_heap keep the "largest" on top: make that the lowest rank, then the leftmost position.
inline bool later(const QueuedMerge& a, const QueuedMerge& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

}  // namespace

BpeModel::BpeModel(std::vector<std::pair<std::string, int32_t>> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions opts)
    : tokens_(std::move(vocab)), opts_(std::move(opts)) {
  vocab_.reserve(tokens_.size());
  for (const auto& [tok, id] : tokens_) vocab_[tok] = id;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name);
  }
  const size_t prefix_len = opts_.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t ia = token_to_id(a), ib = token_to_id(b);
    if (ia < 0 || ib < 0) fail("merge '" + a + " " + b + "' names a token missing from the vocabulary");
    // With a continuing-subword prefix the right part carries it; the merged token does not.
    const std::string merged = a + (b.compare(0, prefix_len, opts_.continuing_subword_prefix) == 0 ? b.substr(prefix_len) : b);
    const int32_t im = token_to_id(merged);
    if (im < 0) fail("merge '" + a + " " + b + "' makes '" + merged + "', which is not in the vocabulary");
    merges_.set(pair_key(ia, ib), Merge{uint32_t(rank), im});
  }
}

int32_t BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (opts_.ignore_merges) {
    if (const int32_t id = token_to_id(word); id >= 0) return out.push_back(id);
  }
  const bool cacheable = word.size() < WordCache::kMaxWordBytes;
  const uint64_t h = cacheable ? hash_bytes(word) : 0;
  if (cacheable && cache_.get(word, h, out)) return;
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) cache_.put(word, h, out.data() + first, out.size() - first);
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<QueuedMerge> heap;
  thread_local std::string piece;
  sym.clear();
  heap.clear();
  auto add = [&](int32_t id, size_t len) {
    const int32_t i = int32_t(sym.size());
    sym.push_back(Symbol{id, i - 1, i + 1, uint32_t(len)});
  };
  // The characters, as HF's merge_word reads them (missing ones: byte fallback, else unknown).
  int32_t unk_pending = -1;
  size_t unk_len = 0;
  for (size_t i = 0; i < word.size();) {
    size_t len = 0;
    unicode::decode(word, i, &len);
    std::string_view ch = word.substr(i, len);
    const bool is_first = i == 0, is_last = i + len == word.size();
    if ((!is_first && !opts_.continuing_subword_prefix.empty()) || (is_last && !opts_.end_of_word_suffix.empty())) {
      piece.assign(is_first ? "" : opts_.continuing_subword_prefix);
      piece.append(ch);
      if (is_last) piece.append(opts_.end_of_word_suffix);
      ch = piece;
    }
    i += len;
    if (const int32_t id = token_to_id(ch); id >= 0) {
      if (unk_pending >= 0) add(unk_pending, unk_len), unk_pending = -1;
      add(id, len);
      continue;
    }
    if (opts_.byte_fallback &&
        std::all_of(ch.begin(), ch.end(), [&](char c) { return byte_ids_[static_cast<unsigned char>(c)] >= 0; })) {
      for (char c : ch) add(byte_ids_[static_cast<unsigned char>(c)], 1);
      continue;
    }
    if (opts_.unk_id < 0) continue;  // no unknown token: HF drops the character
    if (unk_pending >= 0 && opts_.fuse_unk) {
      unk_len += len;
    } else {
      if (unk_pending >= 0) add(unk_pending, unk_len);
      unk_pending = opts_.unk_id, unk_len = len;
    }
  }
  if (unk_pending >= 0) add(unk_pending, unk_len);
  if (sym.empty()) return;
  sym.back().next = -1;

  for (size_t i = 0; i + 1 < sym.size(); ++i)
    if (const Merge* m = merges_.get(pair_key(sym[i].id, sym[i + 1].id)))
      heap.push_back(QueuedMerge{m->rank, uint32_t(i), m->new_id});
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const QueuedMerge top = heap.back();
    heap.pop_back();
    Symbol& left = sym[top.pos];
    if (left.len == 0 || left.next < 0) continue;
    const Symbol right = sym[size_t(left.next)];
    // A stale entry: the pair at this position changed since it was queued.
    const Merge* now = merges_.get(pair_key(left.id, right.id));
    if (!now || now->new_id != top.new_id) continue;
    sym[size_t(left.next)].len = 0;
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    if (right.next >= 0) sym[size_t(right.next)].prev = int32_t(top.pos);
    if (left.prev >= 0)
      if (const Merge* m = merges_.get(pair_key(sym[size_t(left.prev)].id, left.id))) {
        heap.push_back(QueuedMerge{m->rank, uint32_t(left.prev), m->new_id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    if (left.next >= 0)
      if (const Merge* m = merges_.get(pair_key(left.id, sym[size_t(left.next)].id))) {
        heap.push_back(QueuedMerge{m->rank, top.pos, m->new_id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
  }
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) out.push_back(sym[size_t(i)].id);
}

}  // namespace rho::tok
