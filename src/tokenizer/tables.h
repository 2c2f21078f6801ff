// Small lookup structures for the encoders' hot loops: an open-addressing map from 64-bit keys
// (merge pairs, trie edges) and a byte trie for longest-prefix matching (added tokens,
// sentencepiece user-defined symbols, unigram pieces). Built once at load, read-only afterwards,
// so any number of threads may read them.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace rho::tok {

inline uint64_t mix64(uint64_t x) {  // splitmix64's finalizer: spreads pair keys over the table
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t hash_bytes(std::string_view s) {  // fnv1a64: short keys, good enough spread
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

template <class V>
class FlatMap64 {
 public:
  // Insert or overwrite (later entries win, as when HF collects merges into a HashMap).
  void set(uint64_t key, const V& v) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    Slot& s = find_slot(key);
    if (!s.used) ++size_;
    s = Slot{key, v, true};
  }
  const V* get(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    size_t i = mix64(key) & (slots_.size() - 1);
    while (slots_[i].used) {
      if (slots_[i].key == key) return &slots_[i].value;
      i = (i + 1) & (slots_.size() - 1);
    }
    return nullptr;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    V value{};
    bool used = false;
  };
  Slot& find_slot(uint64_t key) {
    size_t i = mix64(key) & (slots_.size() - 1);
    while (slots_[i].used && slots_[i].key != key) i = (i + 1) & (slots_.size() - 1);
    return slots_[i];
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    for (const Slot& s : old)
      if (s.used) find_slot(s.key) = s;
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// Byte trie: node 0 is the root; an edge is (node << 8 | byte) -> child.
class ByteTrie {
 public:
  void insert(std::string_view key, int32_t value) {
    uint32_t node = 0;
    for (unsigned char c : key) {
      const uint64_t edge = (uint64_t(node) << 8) | c;
      if (const uint32_t* child = edges_.get(edge)) {
        node = *child;
      } else {
        const uint32_t fresh = uint32_t(values_.size());
        values_.push_back(-1);
        edges_.set(edge, fresh);
        node = fresh;
      }
    }
    values_[node] = value;
  }
  // Calls fn(length, value) for every key that is a prefix of s, shortest first.
  template <class F>
  void prefixes(std::string_view s, F&& fn) const {
    uint32_t node = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const uint32_t* child = edges_.get((uint64_t(node) << 8) | static_cast<unsigned char>(s[i]));
      if (!child) return;
      node = *child;
      if (values_[node] >= 0) fn(i + 1, values_[node]);
    }
  }
  // The longest key that is a prefix of s: its length (0 when none) and value.
  size_t longest(std::string_view s, int32_t* value) const {
    size_t best = 0;
    prefixes(s, [&](size_t len, int32_t v) { best = len, *value = v; });
    return best;
  }
  bool empty() const { return values_.size() == 1; }

 private:
  FlatMap64<uint32_t> edges_;
  std::vector<int32_t> values_ = {-1};
};

}  // namespace rho::tok
