// A thread-safe cache of word -> ids for the BPE encoders: natural text repeats the same words,
// and a lookup is much cheaper than merging again. Sharded so threads encoding at once rarely
// wait on the same lock; a full shard is emptied rather than evicted piecemeal (the next words
// refill it), which keeps memory bounded without bookkeeping.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tables.h"

namespace rho::tok {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;  // longer words are merged every time, as in HF

  // Appends the cached ids of `word` to out; false when absent.
  bool get(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const {
    Shard& s = shards_[hash % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    const auto it = s.map.find(hash);
    if (it == s.map.end() || it->second.word != word) return false;
    out.insert(out.end(), it->second.ids.begin(), it->second.ids.end());
    return true;
  }
  void put(std::string_view word, uint64_t hash, const int32_t* ids, size_t n) const {
    Shard& s = shards_[hash % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.map.size() >= kEntriesPerShard) s.map.clear();
    Entry& e = s.map[hash];  // a colliding word replaces the older one
    e.word.assign(word.data(), word.size());
    e.ids.assign(ids, ids + n);
  }

 private:
  static constexpr size_t kShards = 64;
  static constexpr size_t kEntriesPerShard = 4096;
  struct Entry {
    std::string word;
    std::vector<int32_t> ids;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, Entry> map;
  };
  mutable Shard shards_[kShards];
};

}  // namespace rho::tok
